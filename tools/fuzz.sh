#!/usr/bin/env bash
# Short libFuzzer run of every fuzz target (about 60 s each; FUZZ_SECONDS to change), seeded with
# real trust data. Targets (fuzz/fuzz_targets, properties in fuzz/src/props.rs):
#   metadata_parse       Envelope::parse + Root/Timestamp/Snapshot/Targets::from_envelope
#   canonical_roundtrip  json::parse -> canonical::encode -> parse: same value, same bytes, and
#                        the same bytes as serde_json's sorted compact form
#   verify_chain         chain::verify_repo + select + inspect on ../shared/trust-data's
#                        alice-image with one file replaced by the input (first byte: which)
#   key_parse            keys::PublicKey::from_tuf for every key type (x509: DER wrapped in PEM),
#                        IDs, PEM, signature checks under every method; PinnedKey::parse
#   rotation_walk        resolve::fetch_repo (rotation walk, budgets) over fuzz/fixtures' 6-version
#                        rotation with the current root or one versioned root replaced/removed
#   delegation_tree      resolve::fetch_repo + select over fuzz/fixtures' delegation tree with
#                        targets.json or one delegation replaced/removed, releases required or not
# A crash is copied to fuzz/regressions/<target>/ (replayed by tests/hostile_fuzz.rs on stable)
# and the script exits 1.
#
# Toolchain: cargo-fuzz needs -Z flags. With a nightly toolchain installed it is used
# (`cargo +nightly fuzz`); otherwise the stable toolchain is told to accept them with
# RUSTC_BOOTSTRAP=1 (the sanitizer runtimes ship with stable on x86_64 Linux). cargo-fuzz itself
# comes from crates.io (`cargo install cargo-fuzz`), installed here when missing.
#
# The corpus starts from fuzz/corpus-min/<target> (committed: the minimised corpus of the last
# long run) plus the seeds below. FUZZ_RUNS=N runs each target for N executions instead of
# FUZZ_SECONDS; FUZZ_MINIMISE=1 then rewrites fuzz/corpus-min/<target> with `cargo fuzz cmin`.
#
# Usage: tools/fuzz.sh [target...]     FUZZ_SECONDS=60 FUZZ_RUNS= FUZZ_MINIMISE=
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${FUZZ_SECONDS:-60}
TRUST_DATA=${TRUSTPIN_TRUST_DATA:-$ROOT/../shared/trust-data}
export TRUSTPIN_TRUST_DATA=$TRUST_DATA
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(metadata_parse canonical_roundtrip verify_chain key_parse rotation_walk delegation_tree)

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
    cargo install --locked cargo-fuzz
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    FUZZ=(cargo +nightly fuzz)
    echo "fuzz.sh: using the nightly toolchain" >&2
else
    export RUSTC_BOOTSTRAP=1
    FUZZ=(cargo fuzz)
    echo "fuzz.sh: no nightly toolchain: stable with RUSTC_BOOTSTRAP=1" >&2
fi
[ -d "$TRUST_DATA/docker.io" ] || { echo "fuzz.sh: $TRUST_DATA is missing (seeds and verify_chain need it)" >&2; exit 2; }

cd fuzz
# Seeds: every real metadata file (testdata/ made by the real notary, and ../shared/trust-data).
seed() {
    local target=$1
    local dir=corpus/$target
    mkdir -p "$dir"
    [ -d "corpus-min/$target" ] && cp -n corpus-min/"$target"/* "$dir"/ 2>/dev/null || true
    case $target in
    rotation_walk | delegation_tree)
        # One seed per file the selector can pick (sorted as the property sorts them): that file
        # unchanged after its selector byte.
        python3 - "$target" "$dir" <<'PY'
import os, sys
target, out = sys.argv[1], sys.argv[2]
gun = {"rotation_walk": "rotation", "delegation_tree": "delegations"}[target]
tuf = os.path.join("fixtures/example.com/fuzz", gun, "_trust/tuf")
names = {}
for d, _, files in os.walk(tuf):
    for f in files:
        if f.endswith(".json"):
            names[os.path.relpath(os.path.join(d, f), tuf)[:-5]] = os.path.join(d, f)
keep = [n for n in sorted(names) if (target == "rotation_walk" and (n == "root" or n.endswith(".root"))) or (target == "delegation_tree" and n.startswith("targets"))]
for i, n in enumerate(keep):
    open(os.path.join(out, "seed-%d" % i), "wb").write(bytes([i]) + open(names[n], "rb").read())
PY
        ;;
    verify_chain)
        local tuf=$TRUST_DATA/docker.io/phbelitz/alice-image/_trust/tuf
        local i=0
        for f in root timestamp snapshot targets targets/chamsen targets/phbelitz targets/releases; do
            { printf "\\x$(printf %02x $i)"; cat "$tuf/$f.json"; } >"$dir/seed-$i"
            i=$((i + 1))
        done
        ;;
    key_parse)
        # Every key of every real file: selector byte (key type; 0x80: DER certificate) + material.
        python3 - "$ROOT/testdata" "$TRUST_DATA" "$dir" <<'PY'
import base64, hashlib, json, os, re, sys
types = ["ed25519", "ecdsa", "ecdsa-x509", "rsa", "rsa-x509"]
out = sys.argv[3]
for top in sys.argv[1:3]:
    for d, _, files in os.walk(top):
        for f in files:
            if not f.endswith(".json"):
                continue
            try:
                v = json.load(open(os.path.join(d, f), "rb"))
                signed = v["signed"]
            except Exception:
                continue
            maps = [signed.get("keys") or {}, (signed.get("delegations") or {}).get("keys") or {}]
            for m in maps:
                for k in m.values():
                    t = k.get("keytype")
                    if t not in types:
                        continue
                    raw = base64.b64decode(k["keyval"]["public"])
                    seeds = [bytes([types.index(t)]) + raw]
                    if t.endswith("x509"):
                        body = re.sub(rb"-----[^-]+-----|\s", b"", raw)
                        seeds.append(bytes([types.index(t) | 0x80]) + base64.b64decode(body))
                    for s in seeds:
                        name = "seed-" + hashlib.sha256(s).hexdigest()[:16]
                        open(os.path.join(out, name), "wb").write(s)
PY
        ;;
    *)
        find "$ROOT/testdata" "$TRUST_DATA" -name '*.json' -print0 |
            while IFS= read -r -d '' f; do cp "$f" "$dir/seed-$(sha256sum "$f" | cut -c1-16)"; done
        ;;
    esac
}

status=0
summary=()
for t in "${TARGETS[@]}"; do
    seed "$t"
    mkdir -p "artifacts/$t"
    log=$(mktemp)
    if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); what="$FUZZ_RUNS runs"; else limit=(-max_total_time="$SECONDS_EACH"); what="${SECONDS_EACH}s"; fi
    echo "== $t: $what" >&2
    set +e
    start=$(date +%s)
    "${FUZZ[@]}" run -O "$t" "corpus/$t" -- \
        "${limit[@]}" -rss_limit_mb=2048 -max_len=262144 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" 2>&1 | tee "$log" | grep --line-buffered -E '^(#[0-9]+.*(INITED|DONE|pulse)|Done|==|SUMMARY|stat::)' >&2
    rc=${PIPESTATUS[0]}
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -ne 0 ]; then
        status=1
        for a in artifacts/"$t"/*; do
            [ -f "$a" ] || continue
            cp "$a" "regressions/$t/$(basename "$a")"
            echo "fuzz.sh: $t: finding saved as fuzz/regressions/$t/$(basename "$a")" >&2
        done
        summary+=("$t: FAILED after ${runs:-?} executions (see above)")
    else
        summary+=("$t: ${runs:-?} executions in $(( $(date +%s) - start ))s, no finding")
        if [ -n "${FUZZ_MINIMISE:-}" ]; then
            rm -rf "corpus-min/$t" && mkdir -p "corpus-min/$t"
            "${FUZZ[@]}" cmin -O "$t" "corpus/$t" -- -rss_limit_mb=2048 -max_len=262144 >/dev/null 2>&1
            cp corpus/"$t"/* "corpus-min/$t"/
            summary+=("$t: minimised corpus: $(ls "corpus-min/$t" | wc -l) inputs, $(du -sh "corpus-min/$t" | cut -f1)")
        fi
    fi
    rm -f "$log"
done
printf '%s\n' "${summary[@]}"
exit $status
