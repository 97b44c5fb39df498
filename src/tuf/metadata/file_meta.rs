//! Length and hashes of a file as a parent role declares them, read carefully (every error names
//! its field) or fast (thousands of target entries per file, in the form Notary writes them).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::fields::{field, int, invalid, obj, string};
use super::Result;
use crate::tuf::json::Value;

/// Hashes and length of a file, as a parent role declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub length: u64,
    pub sha256: Option<[u8; 32]>,
    /// Boxed: most targets carry only sha256, and thousands of entries are kept.
    pub sha512: Option<Box<[u8; 64]>>,
}

/// [`file_meta`] for a well-formed target entry (`length` ≥ 0, `hashes` of valid base64 of the
/// right lengths, nothing else in `hashes` but other algorithms); `None` sends the entry down
/// the careful path, which accepts and refuses exactly the same entries.
pub(super) fn file_meta_fast(v: &Value) -> Option<FileMeta> {
    let Value::Object(o) = v else { return None };
    let Some(Value::Int(length)) = o.get("length") else {
        return None;
    };
    let length = u64::try_from(*length).ok()?;
    let Some(Value::Object(hashes)) = o.get("hashes") else {
        return None;
    };
    fn decode<const N: usize>(
        hashes: &BTreeMap<String, Value>,
        alg: &str,
    ) -> Option<Option<[u8; N]>> {
        match hashes.get(alg) {
            None => Some(None),
            Some(Value::Str(h)) => decode_hash(h.as_bytes()).ok().map(Some),
            Some(_) => None,
        }
    }
    Some(FileMeta {
        length,
        sha256: decode(hashes, "sha256")?,
        sha512: decode(hashes, "sha512")?.map(Box::new),
    })
}

pub(super) fn file_meta(v: &Value, path: &str, need_hash: bool) -> Result<FileMeta> {
    let o = obj(v, path)?;
    let length = int(field(o, path, "length")?, &format!("{path}.length"))?;
    let length = u64::try_from(length)
        .map_err(|_| invalid(&format!("{path}.length"), format!("{length} is negative")))?;
    let hashes = obj(field(o, path, "hashes")?, &format!("{path}.hashes"))?;
    fn get<const N: usize>(
        hashes: &BTreeMap<String, Value>,
        path: &str,
        alg: &str,
    ) -> Result<Option<[u8; N]>> {
        let hp = format!("{path}.hashes.{alg}");
        match hashes.get(alg) {
            None => Ok(None),
            Some(h) => decode_hash(string(h, &hp)?.as_bytes())
                .map(Some)
                .map_err(|why| invalid(&hp, why)),
        }
    }
    let meta = FileMeta {
        length,
        sha256: get(hashes, path, "sha256")?,
        sha512: get(hashes, path, "sha512")?.map(Box::new),
    };
    if need_hash && meta.sha256.is_none() && meta.sha512.is_none() {
        return Err(invalid(
            &format!("{path}.hashes"),
            "neither sha256 nor sha512 given".into(),
        ));
    }
    Ok(meta)
}

/// Decode a base64 hash that must be exactly `N` bytes long.
pub(super) fn decode_hash<const N: usize>(b64: &[u8]) -> Result<[u8; N], String> {
    if let Some(h) = decode_hash_exact(b64) {
        return Ok(h);
    }
    decode_hash_general(b64)
}

/// Base64 values of the standard alphabet; 0xff for anything else.
const BASE64_VALUE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The form Notary writes, decoded without the general decoder's per-call set-up (thousands of
/// target hashes per file): standard alphabet, canonical `=` padding, unused low bits zero.
/// `None` for anything else, which the `base64` crate then judges; what this accepts, the
/// crate accepts with the same bytes (tested below).
fn decode_hash_exact<const N: usize>(b64: &[u8]) -> Option<[u8; N]> {
    if b64.len() != 4 * N.div_ceil(3) {
        return None;
    }
    let v = |c: u8| u32::from(BASE64_VALUE[usize::from(c)]);
    let mut out = [0u8; N];
    let quads = N / 3;
    // Any character outside the alphabet sets bit 7 here (0xff); values are below 64.
    let mut bad = 0u32;
    for q in 0..quads {
        let c = &b64[4 * q..4 * q + 4];
        let (a, b, c2, d) = (v(c[0]), v(c[1]), v(c[2]), v(c[3]));
        bad |= a | b | c2 | d;
        let n = (a << 18) | (b << 12) | (c2 << 6) | d;
        out[3 * q..3 * q + 3].copy_from_slice(&n.to_be_bytes()[1..]);
    }
    let t = &b64[4 * quads..];
    match N % 3 {
        0 => {}
        1 => {
            // Two characters and `==`; the second's low four bits are unused and must be zero.
            let (a, b) = (v(t[0]), v(t[1]));
            bad |= a | b;
            if t[2] != b'=' || t[3] != b'=' || b & 0x0f != 0 {
                return None;
            }
            out[3 * quads] = ((a << 2) | (b >> 4)) as u8;
        }
        _ => {
            // Three characters and `=`; the third's low two bits are unused and must be zero.
            let (a, b, c) = (v(t[0]), v(t[1]), v(t[2]));
            bad |= a | b | c;
            if t[3] != b'=' || c & 0x03 != 0 {
                return None;
            }
            let n = (a << 10) | (b << 4) | (c >> 2);
            out[3 * quads..3 * quads + 2].copy_from_slice(&n.to_be_bytes()[2..]);
        }
    }
    (bad & 0x80 == 0).then_some(out)
}

/// Any other base64, judged by the `base64` crate (which names what is wrong).
fn decode_hash_general<const N: usize>(b64: &[u8]) -> Result<[u8; N], String> {
    let v = STANDARD
        .decode(b64)
        .map_err(|e| format!("not base64: {e}"))?;
    v.as_slice()
        .try_into()
        .map_err(|_| format!("{} bytes, expected {N}", v.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::canonical::test_rng::Rng;

    #[test]
    fn the_exact_hash_decoder_accepts_only_what_the_crate_accepts_with_the_same_bytes() {
        use base64::Engine as _;
        let mut r = Rng(0x5555_aaaa_1234_4321);
        let (mut exact, mut other) = (0, 0);
        for n in 0..20_000 {
            let bytes: Vec<u8> = (0..64).map(|_| r.below(256) as u8).collect();
            let mut text = STANDARD.encode(if n % 2 == 0 { &bytes[..32] } else { &bytes[..] });
            if r.below(2) == 0 {
                // One character changed, to anything printable or a padding sign.
                let at = r.below(text.len() as u64) as usize;
                let c = [b'=', b'A', b'/', b'+', b'-', b'_', b' ', b'z'][r.below(8) as usize];
                text.replace_range(at..=at, &(c as char).to_string());
            }
            let b = text.as_bytes();
            let crate32 = decode_hash_general::<32>(b).ok();
            let crate64 = decode_hash_general::<64>(b).ok();
            match decode_hash_exact::<32>(b) {
                Some(h) => {
                    exact += 1;
                    assert_eq!(Some(h), crate32, "{text}");
                }
                None => other += 1,
            }
            if let Some(h) = decode_hash_exact::<64>(b) {
                assert_eq!(Some(h), crate64, "{text}");
            } else if n % 2 == 1 && b == STANDARD.encode(&bytes).as_bytes() {
                panic!("a canonical 64-byte encoding went to the slow path: {text}");
            }
        }
        assert!(exact > 3000 && other > 3000, "{exact} exact, {other} other");
    }
}
