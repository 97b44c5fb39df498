//! The CBOR a COSE_Sign1 envelope needs (RFC 8949), decoded with bounds: definite lengths only
//! (COSE requires deterministic encoding of what it signs), nesting at most [`MAX_DEPTH`],
//! duplicate map keys refused (which header would count?), every length checked against the bytes
//! that remain before anything is allocated. Each value keeps its raw bytes, because COSE signs
//! the protected header as encoded.

/// Deeper nesting than this is hostile; a COSE envelope needs three levels.
pub const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Uint(u64),
    /// A negative integer `-1 - n`, kept as `n`.
    Nint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Tag(u64, Box<Value>),
    Bool(bool),
    Null,
    Undefined,
    Float(f64),
}

impl Value {
    /// The integer, if it is one that fits an i64.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Uint(n) => i64::try_from(*n).ok(),
            Value::Nint(n) => i64::try_from(*n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// A map's value under an integer or text label.
    pub fn get(&self, label: &Label) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| label.is(k)).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A COSE header label: an integer or a text string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    Int(i64),
    Text(&'static str),
}

impl Label {
    pub fn is(&self, v: &Value) -> bool {
        match self {
            Label::Int(n) => v.as_int() == Some(*n),
            Label::Text(t) => v.as_text() == Some(t),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cbor: {0}")]
pub struct CborError(pub String);

/// Decode exactly one value from `bytes` (nothing may follow).
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let mut r = Reader { bytes, pos: 0 };
    let v = r.value(0)?;
    if r.pos != bytes.len() {
        return Err(CborError(format!(
            "{} bytes follow the value",
            bytes.len() - r.pos
        )));
    }
    Ok(v)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| CborError("unexpected end of data".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&[u8], CborError> {
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n > remaining {
            return Err(CborError(format!(
                "a length of {n} exceeds the {remaining} bytes left"
            )));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn argument(&mut self, info: u8) -> Result<u64, CborError> {
        let n = match info {
            0..=23 => return Ok(info as u64),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            31 => return Err(CborError("indefinite lengths are not allowed".into())),
            _ => return Err(CborError(format!("reserved additional information {info}"))),
        };
        let raw = self.take(n)?;
        Ok(raw.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64))
    }

    fn value(&mut self, depth: usize) -> Result<Value, CborError> {
        if depth > MAX_DEPTH {
            return Err(CborError(format!("nesting deeper than {MAX_DEPTH}")));
        }
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == 7 {
            return match info {
                20 => Ok(Value::Bool(false)),
                21 => Ok(Value::Bool(true)),
                22 => Ok(Value::Null),
                23 => Ok(Value::Undefined),
                25 => {
                    let raw = self.take(2)?;
                    Ok(Value::Float(half_to_f64(u16::from_be_bytes([
                        raw[0], raw[1],
                    ]))))
                }
                26 => {
                    let raw = self.take(4)?;
                    Ok(Value::Float(
                        f32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as f64,
                    ))
                }
                27 => {
                    let raw = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(raw);
                    Ok(Value::Float(f64::from_be_bytes(a)))
                }
                _ => Err(CborError(format!("unsupported simple value {info}"))),
            };
        }
        let arg = self.argument(info)?;
        match major {
            0 => Ok(Value::Uint(arg)),
            1 => Ok(Value::Nint(arg)),
            2 => Ok(Value::Bytes(self.take(arg)?.to_vec())),
            3 => {
                let raw = self.take(arg)?;
                let s = std::str::from_utf8(raw)
                    .map_err(|_| CborError("a text string is not UTF-8".into()))?;
                Ok(Value::Text(s.to_string()))
            }
            4 => {
                // every item takes at least one byte: bound the count before allocating
                self.fits(arg)?;
                let mut items = Vec::with_capacity(arg as usize);
                for _ in 0..arg {
                    items.push(self.value(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            5 => {
                self.fits(arg.saturating_mul(2))?;
                let mut entries: Vec<(Value, Value)> = Vec::with_capacity(arg as usize);
                for _ in 0..arg {
                    let k = self.value(depth + 1)?;
                    if entries.iter().any(|(e, _)| *e == k) {
                        return Err(CborError(format!("duplicate map key {k:?}")));
                    }
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                }
                Ok(Value::Map(entries))
            }
            6 => Ok(Value::Tag(arg, Box::new(self.value(depth + 1)?))),
            _ => Err(CborError(format!("unknown major type {major}"))),
        }
    }

    fn fits(&self, items: u64) -> Result<(), CborError> {
        let remaining = (self.bytes.len() - self.pos) as u64;
        if items > remaining {
            return Err(CborError(format!(
                "{items} items cannot fit in the {remaining} bytes left"
            )));
        }
        Ok(())
    }
}

fn half_to_f64(h: u16) -> f64 {
    let exp = (h >> 10) & 0x1f;
    let mant = (h & 0x3ff) as f64;
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 => {
            if mant == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => (1.0 + mant / 1024.0) * 2f64.powi(e as i32 - 15),
    };
    if h & 0x8000 != 0 {
        -v
    } else {
        v
    }
}

/// CBOR encoding of the few things a verifier writes: the `Sig_structure` of COSE_Sign1.
pub mod encode {
    fn head(out: &mut Vec<u8>, major: u8, n: u64) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(m | 26);
                out.extend((n as u32).to_be_bytes());
            }
            _ => {
                out.push(m | 27);
                out.extend(n.to_be_bytes());
            }
        }
    }

    pub fn array_head(out: &mut Vec<u8>, len: usize) {
        head(out, 4, len as u64);
    }

    pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        head(out, 2, b.len() as u64);
        out.extend_from_slice(b);
    }

    pub fn text(out: &mut Vec<u8>, s: &str) {
        head(out, 3, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_lengths_depth_and_duplicates_are_refused_without_allocating() {
        // array claiming 2^32 items in 5 bytes
        assert!(decode(&[0x9a, 0xff, 0xff, 0xff, 0xff]).is_err());
        // byte string longer than the input
        assert!(decode(&[0x59, 0xff, 0xff, 0x00]).is_err());
        // indefinite length
        assert!(decode(&[0x9f, 0xff]).is_err());
        // deep nesting
        let deep: Vec<u8> = std::iter::repeat_n(0x81, 40).chain([0x00]).collect();
        assert!(decode(&deep).is_err());
        // {1: 0, 1: 0}
        assert!(decode(&[0xa2, 0x01, 0x00, 0x01, 0x00]).is_err());
        // trailing byte
        assert!(decode(&[0x00, 0x00]).is_err());
    }

    #[test]
    fn values_decode_and_encode() {
        assert_eq!(decode(&[0x38, 0x24]).unwrap().as_int(), Some(-37));
        assert_eq!(
            decode(&[0x63, b'a', b'b', b'c']).unwrap().as_text(),
            Some("abc")
        );
        let mut out = Vec::new();
        encode::array_head(&mut out, 2);
        encode::text(&mut out, "x");
        encode::bytes(&mut out, &[0u8; 300]);
        let v = decode(&out).unwrap();
        let Value::Array(items) = v else { panic!() };
        assert_eq!(items[1].as_bytes().map(<[u8]>::len), Some(300));
    }
}
