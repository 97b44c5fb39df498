#!/usr/bin/env bash
# Regenerate the offline Notary v1 trust data under testdata/ with the real notary 0.7.0.
#
# Starts a notary-server (memory storage, local signer) on a free loopback port, publishes three
# repositories with the real `notary` client (each with its own trust dir, hence its own root key),
# then downloads every metadata file with curl into the server's URL layout below /v2/:
#   testdata/<gun>/_trust/tuf/<role>.json   (delegations at targets/<name>.json, plus N.root.json)
# and writes:
#   testdata/keys/<repo>.pub   root public key of each repository (from the client's private key store)
#   testdata/expected.tsv      `notary lookup` for every (gun, tag): the oracle
#   testdata/signed.tsv        what this script asked notary to sign, per role
#   testdata/README.md         how and when it was made
#
# Idempotent: wipes only what it owns (testdata/example.com, testdata/keys, the three files above).
# Quiet unless it fails. Needs: notary, notary-server, curl, openssl, sha256sum, base64.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT_DIR/testdata"
PREFIX=example.com/trustpin

for tool in notary notary-server curl openssl sha256sum base64; do
  command -v "$tool" >/dev/null || { echo "make-testdata: $tool not found (apt-get install -y notary openssl curl)" >&2; exit 1; }
done

WORK=$(mktemp -d)
LOG="$WORK/log"
SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "make-testdata: $*" >&2
  echo "--- log ---" >&2; tail -n 60 "$LOG" >&2 || true
  exit 1
}
# run CMD...: output to the log; on failure print the log and stop
run() { "$@" >>"$LOG" 2>&1 || fail "failed: $*"; }

export NOTARY_ROOT_PASSPHRASE=trustpin-root-pass
export NOTARY_TARGETS_PASSPHRASE=trustpin-targets-pass
export NOTARY_SNAPSHOT_PASSPHRASE=trustpin-snapshot-pass
export NOTARY_DELEGATION_PASSPHRASE=trustpin-delegation-pass
export HOME="$WORK/home"   # keep notary away from any ~/.notary config
mkdir -p "$HOME"

# --- server ---------------------------------------------------------------------------------------
free_port() {
  # a random high loopback port that nothing answers on (bash cannot bind; the start is retried on a race)
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  fail "no free port"
}
start_server() {
  local port=$1
  cat >"$WORK/server.json" <<EOF
{"server":{"http_addr":"127.0.0.1:$port"},"trust_service":{"type":"local"},"storage":{"backend":"memory"},"logging":{"level":"warn"}}
EOF
  notary-server -config "$WORK/server.json" >>"$LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    if curl -sf --max-time 2 "http://127.0.0.1:$port/_notary_server/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { SERVER_PID=; return 1; }
    sleep 0.05
  done
  return 1
}
PORT=
for _ in 1 2 3; do
  PORT=$(free_port)
  if start_server "$PORT"; then break; fi
  PORT=
done
[[ -n "$PORT" ]] || fail "notary-server did not come up"
SERVER="http://127.0.0.1:$PORT"

# --- helpers --------------------------------------------------------------------------------------
# n REPO ARGS...: notary with the repository's own trust dir
n() { local repo=$1; shift; notary -s "$SERVER" -d "$WORK/trust-$repo" "$@" </dev/null; }
SIGNED="$WORK/signed.tsv"
: >"$SIGNED"
# add REPO ROLE TAG CONTENT: addhash the sha256/size of CONTENT as TAG (ROLE "targets" or "targets/x")
add() {
  local repo=$1 role=$2 tag=$3 content=$4 hex size
  hex=$(printf '%s' "$content" | sha256sum | cut -d' ' -f1)
  size=$(printf '%s' "$content" | wc -c | tr -d ' ')
  if [[ "$role" == targets ]]; then
    run n "$repo" addhash "$PREFIX/$repo" "$tag" "$size" --sha256 "$hex"
  else
    run n "$repo" addhash "$PREFIX/$repo" "$tag" "$size" --sha256 "$hex" --roles "$role"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$PREFIX/$repo" "$role" "$tag" "$hex" "$size" >>"$SIGNED"
}
# delegation_key REPO NAME: openssl EC P-256 key + self-signed cert, imported into REPO's trust dir
delegation_key() {
  local repo=$1 name=$2
  run openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/$repo-$name.key"
  run openssl req -new -x509 -key "$WORK/$repo-$name.key" -subj "/CN=$name" -days 3650 -out "$WORK/$repo-$name.crt"
  run n "$repo" key import "$WORK/$repo-$name.key" --role "targets/$name"
}

# a) demo: plain targets
run n demo init "$PREFIX/demo"
add demo targets v1 'demo v1'
add demo targets v2 'demo v2'
add demo targets latest 'demo latest'
run n demo publish "$PREFIX/demo"

# b) delegated: targets/releases and targets/qa
run n delegated init "$PREFIX/delegated"
delegation_key delegated releases
delegation_key delegated qa
run n delegated delegation add "$PREFIX/delegated" targets/releases "$WORK/delegated-releases.crt" --all-paths
run n delegated delegation add "$PREFIX/delegated" targets/qa "$WORK/delegated-qa.crt" --all-paths
run n delegated publish "$PREFIX/delegated"
add delegated targets v1 'delegated v1'
add delegated targets/releases v1 'delegated v1'
add delegated targets/qa v1 'delegated v1'
add delegated targets/releases v2 'delegated v2 releases'
add delegated targets/qa v2 'delegated v2 qa'
run n delegated publish "$PREFIX/delegated"

# c) oddnames: names the server escapes on the wire, or that canonical encoders get wrong
LS=$'\xe2\x80\xa8'        # U+2028 LINE SEPARATOR
ACUTE=$'\xcc\x81'         # U+0301 COMBINING ACUTE ACCENT (decomposed é)
ODD=("a<b" "a>b" "a&b" "line${LS}sep" "cafe${ACUTE}" 'q"uote' 'back\slash' "v1 x" "v1!" "v1")
run n oddnames init "$PREFIX/oddnames"
for t in "${ODD[@]}"; do add oddnames targets "$t" "oddnames $t"; done
run n oddnames publish "$PREFIX/oddnames"

# --- collect --------------------------------------------------------------------------------------
rm -rf "$OUT/example.com" "$OUT/keys" "$OUT/expected.tsv" "$OUT/signed.tsv" "$OUT/README.md"
mkdir -p "$OUT/keys"

fetch() { # fetch GUN FILE -> 0 if served
  local gun=$1 file=$2 dest="$OUT/$1/_trust/tuf/$2" code
  mkdir -p "$(dirname "$dest")"
  code=$(curl -s --max-time 10 -o "$dest" -w '%{http_code}' "$SERVER/v2/$gun/_trust/tuf/$file") || fail "curl $gun $file"
  if [[ "$code" == 200 ]]; then return 0; fi
  rm -f "$dest"
  [[ "$code" == 404 ]] || fail "GET $gun $file: HTTP $code"
  return 1
}
for repo in demo delegated oddnames; do
  gun="$PREFIX/$repo"
  for role in root timestamp snapshot targets; do fetch "$gun" "$role.json" || fail "$gun: $role.json not served"; done
  v=1; while fetch "$gun" "$v.root.json"; do v=$((v + 1)); done
  [[ $v -gt 1 ]] || fail "$gun: 1.root.json not served"
  if [[ $repo == delegated ]]; then
    for d in releases qa; do
      grep -q "\"targets/$d\"" "$OUT/$gun/_trust/tuf/snapshot.json" || fail "snapshot of $gun does not list targets/$d"
      fetch "$gun" "targets/$d.json" || fail "$gun: targets/$d.json not served"
    done
  fi
  # root public key from the client's own private key store (notary 0.7.0: <trustdir>/private/<canonical key id>.key,
  # encrypted PKCS#8 with "role: root" header; the root key carries no "gun:" header)
  keys=$(grep -l '^role: root$' "$WORK/trust-$repo"/private/*.key) || fail "$repo: no root key in trust dir"
  [[ $(echo "$keys" | wc -l) == 1 ]] || fail "$repo: more than one root key"
  grep -v -e '^[a-z]*: ' -e '^$' "$keys" |
    openssl pkey -passin env:NOTARY_ROOT_PASSPHRASE -pubout -out "$OUT/keys/$repo.pub" 2>>"$LOG" || fail "$repo: cannot decrypt root key"
  # sanity: the file name is the canonical key id = sha256 of {"keytype":"ecdsa","keyval":{"private":null,"public":<b64 SPKI>}}
  b64=$(openssl pkey -pubin -in "$OUT/keys/$repo.pub" -outform DER | base64 -w0)
  id=$(printf '{"keytype":"ecdsa","keyval":{"private":null,"public":"%s"}}' "$b64" | sha256sum | cut -d' ' -f1)
  [[ "$(basename "$keys" .key)" == "$id" ]] || fail "$repo: root key file name is not its canonical id"
done

# --- oracle: notary lookup for every (gun, tag) -----------------------------------------------------
{
  printf 'gun\ttag\tsha256\tsize\n'
  cut -f1,3 "$SIGNED" | awk -F'\t' '!seen[$0]++' | while IFS=$'\t' read -r gun tag; do
    repo=${gun##*/}
    line=$(n "$repo" lookup "$gun" "$tag" 2>>"$LOG") || fail "lookup $gun $tag"
    # "<tag> sha256:<hex> <size>"; the tag itself may contain spaces: take the last two fields
    rest=${line##*sha256:}
    hex=${rest%% *}; size=${rest##* }
    [[ "$line" == "$tag sha256:$hex $size" ]] || fail "unexpected lookup output: $line"
    printf '%s\t%s\t%s\t%s\n' "$gun" "$tag" "$hex" "$size"
  done
} >"$OUT/expected.tsv"
{ printf 'gun\trole\ttag\tsha256\tsize\n'; cat "$SIGNED"; } >"$OUT/signed.tsv"

# a tag never signed: notary lookup must fail
if n demo lookup "$PREFIX/demo" nosuchtag >>"$LOG" 2>&1; then fail "lookup of a missing tag succeeded"; fi

# --- README -----------------------------------------------------------------------------------------
GENERATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EXPIRES=$(grep -o '"expires":"[^"]*"' "$OUT/$PREFIX/demo/_trust/tuf/timestamp.json" | head -1 | cut -d'"' -f4)
AT=$(date -u -d "$GENERATED + 1 day" +%Y-%m-%dT%H:%M:%SZ)
{
  cat <<EOF
# Offline Notary v1 trust data (generated, do not edit)

Made by \`tools/make-testdata.sh\` with the real notary 0.7.0 (\`notary\`, \`notary-server\` from the
Debian package \`notary\`): a notary-server with memory storage and a local signer on a loopback port,
three repositories published with the \`notary\` client (each in its own trust dir, so each has its own
root key), every metadata file then downloaded with curl. Regenerate with \`tools/make-testdata.sh\`
(it rewrites everything listed here and nothing else).

- Generated: **$GENERATED** (UTC)
- The timestamp role expires 14 days later: **$EXPIRES**
  (snapshot and targets expire after 3 years, root after 10).
- Offline verification must therefore pass a time inside the window, e.g. \`--at $AT\`;
  without it the data is (correctly) refused as expired once those two weeks have passed.

## Layout

- \`<gun>/_trust/tuf/<role>.json\`: the bytes served at \`/v2/<gun>/_trust/tuf/<role>.json\`
  (\`root\`, \`timestamp\`, \`snapshot\`, \`targets\`, delegations as \`targets/<name>.json\`, and every
  \`<n>.root.json\` the server had). GUNs: \`$PREFIX/demo\`, \`$PREFIX/delegated\`,
  \`$PREFIX/oddnames\`.
- \`keys/<repo>.pub\`: the repository's root public key (PEM SubjectPublicKeyInfo, ECDSA P-256), taken from
  the client's encrypted private key in its trust dir, not from root.json: this is the key a user pins.
- \`expected.tsv\`: \`notary lookup <gun> <tag>\` for every signed (gun, tag): hex sha256 and size. Tags are
  raw UTF-8 (one contains U+2028, one a backslash; none contains a tab or \`\\n\`).
- \`signed.tsv\`: what the script asked notary to sign, per role (\`targets\`, \`targets/releases\`,
  \`targets/qa\`).

## Repositories

- \`demo\`: tags \`v1\`, \`v2\`, \`latest\` in \`targets\`.
- \`delegated\`: delegations \`targets/releases\` and \`targets/qa\` (keys made with openssl, self-signed
  certificates, imported with \`notary key import\`). \`v1\` is signed in \`targets\`, \`releases\` and
  \`qa\` with one digest; \`v2\` by \`releases\` and by \`qa\` with different digests (not in \`targets\`).
- \`oddnames\`: target names with \`<\`, \`>\`, \`&\`, U+2028, a decomposed \`café\` (e + U+0301), \`q"uote\`,
  \`back\\slash\`, \`v1 x\`, \`v1!\`, and a plain \`v1\`. The server's JSON encoder escapes \`<\`, \`>\`, \`&\`,
  U+2028 as \`\\u003c\`… on the wire; the signatures cover the canonical form with them raw.

## Expected results (\`notary lookup\`)

| gun | tag | sha256 | size |
| --- | --- | --- | --- |
EOF
  tail -n +2 "$OUT/expected.tsv" | while IFS=$'\t' read -r gun tag hex size; do
    shown=${tag//$LS/<U+2028>}; shown=${shown//$ACUTE/<U+0301>}; shown=${shown//|/\\|}
    printf '| %s | `%s` | %s | %s |\n' "$gun" "$shown" "$hex" "$size"
  done
  cat <<EOF

## Signed, per role

| gun | role | tag | sha256 |
| --- | --- | --- | --- |
EOF
  tail -n +2 "$OUT/signed.tsv" | grep -v oddnames | while IFS=$'\t' read -r gun role tag hex size; do
    printf '| %s | %s | `%s` | %s |\n' "$gun" "$role" "$tag" "$hex"
  done
} >"$OUT/README.md"
