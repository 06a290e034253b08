#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The evidence-format test vectors (tests/data/evidence-vectors) checked
# two ways: by `ansimctl verify` (every positive vector verifies, every
# negative one reports the findings its expect file names and no other),
# and by the document's own recipes (docs/evidence-format.md): the chain
# recipe (jq, sha256sum and the shell only) and the openssl signature
# line, cut out of the document as written. TAP output.
# Usage: test-vectors.sh SOURCE_ROOT ANSIMCTL
set -u
root=$(cd "$1" && pwd)
ctl=$(realpath "$2")
vectors=$root/tests/data/evidence-vectors
doc=$root/docs/evidence-format.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () {
  n=$((n + 1))
  failed=$((failed + 1))
  echo "not ok $n - $1"
  shift
  [ $# -eq 0 ] || printf '%s\n' "$@" | sed 's/^/# /'
}

# age refuses an identity others may read; git keeps no modes.
cp "$vectors/keys/site.key" "$work/site.key"
chmod 600 "$work/site.key"
key=$vectors/keys/device.pub.pem

# The chain recipe exactly as the document prints it.
sed -n '/^<!-- chain-recipe -->$/,/^<!-- \/chain-recipe -->$/p' "$doc" \
  | sed '1,2d; $d' | sed '$d' > "$work/check-chain"
if [ ! -s "$work/check-chain" ] || ! grep -q sha256sum "$work/check-chain"; then
  not_ok "docs/evidence-format.md holds the chain recipe between its markers"
fi
if grep -q 'scripts/' "$work/check-chain"; then
  not_ok "the chain recipe uses no project script"
fi
if cmp -s "$work/check-chain" "$root/scripts/evidence-check-chain"; then
  ok "scripts/evidence-check-chain is the document's recipe"
else
  not_ok "scripts/evidence-check-chain is the document's recipe"
fi
# The document quotes vectors ("<!-- include PATH -->" and a fenced
# block): each quote is the file, byte for byte.
for path in $(sed -n 's/^<!-- include \([^ ]*\) -->$/\1/p' "$doc"); do
  awk -v want="<!-- include $path -->" '
    $0 == want { getline; inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }' "$doc" > "$work/quoted"
  if cmp -s "$work/quoted" "$root/$path"; then
    ok "the document quotes $path as it is"
  else
    not_ok "the document quotes $path as it is"
  fi
done
# The document's openssl line for a checkpoint, as printed, in the
# version 3 vector.
awk '/^One command line checks a checkpoint/ { want = 1; next }
  want && /^```sh$/ { inside = 1; next }
  inside && /^```$/ { exit }
  inside { print }' "$doc" > "$work/checkpoint-line"
if grep -q checkpoint-000001 "$work/checkpoint-line" \
  && (cd "$vectors/v3/a" && sh "$work/checkpoint-line" > /dev/null 2>&1); then
  ok "openssl verifies a checkpoint as the document shows"
else
  not_ok "openssl verifies a checkpoint as the document shows"
fi
# The header text's SHA-256 is what the checkpoints commit to.
h=$(sha256sum < "$vectors/canonical/v3/a/header.txt")
if grep -qx "header_sha256=${h%% *}" "$vectors/v3/a/checkpoints/checkpoint-000000"; then
  ok "the header text hashes to the checkpoints' header_sha256"
else
  not_ok "the header text hashes to the checkpoints' header_sha256"
fi

for d in v1/a v1/b v2/a v2/b v2/interrupted v3/a v3/b v3/open; do
  prev=
  case $d in */b) prev=${d%/b}/a ;; esac
  out=$("$ctl" verify --key "$key" --identity "$work/site.key" \
    ${prev:+--previous "$vectors/$prev"} "$vectors/$d" 2>&1)
  rc=$?
  if [ "$rc" -eq 0 ] && echo "$out" | grep -q '^OK: '; then
    ok "ansimctl verify $d"
  else
    not_ok "ansimctl verify $d (exit $rc)" "$out"
  fi
  out=$(sh "$work/check-chain" "$vectors/$d" ${prev:+"$vectors/$prev"} 2>&1)
  rc=$?
  if [ "$rc" -eq 0 ]; then ok "chain recipe on $d"; else not_ok "chain recipe on $d (exit $rc)" "$out"; fi
  if (cd "$vectors/$d" && openssl pkeyutl -verify -pubin -inkey "$key" -rawin \
    -in manifest.json -sigfile manifest.json.sig > /dev/null 2>&1); then
    ok "openssl signature line on $d"
  else
    not_ok "openssl signature line on $d"
  fi
done
out=$("$ctl" verify --key "$key" "$vectors/v2/interrupted" 2>&1)
if echo "$out" | grep -q 'tolerated in format version 2'; then
  ok "a version 2 close before the open is tolerated, and said"
else
  not_ok "a version 2 close before the open is tolerated, and said" "$out"
fi

# A manifest whose signature does not hold is still shown sound up to its
# last checkpoint (info), and refused.
cp -a "$vectors/v3/a" "$work/badsig"
printf '\001' | dd of="$work/badsig/manifest.json.sig" bs=1 seek=5 conv=notrunc 2> /dev/null
out=$("$ctl" verify --key "$key" "$work/badsig" 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && echo "$out" | grep -q '^bad signature: ' \
  && echo "$out" | grep -q 'first 6 entries are the ones the device signed live'; then
  ok "a bad manifest signature: refused, and the checkpoints still prove its 6 entries"
else
  not_ok "a bad manifest signature: refused, and the checkpoints still prove its 6 entries" "$out"
fi

# The canonical entry texts: their SHA-256 as listed, and each is the
# link the next entry records.
if (cd "$vectors/canonical" && sha256sum --quiet -c SHA256SUMS > /dev/null 2>&1); then
  ok "canonical entry texts match canonical/SHA256SUMS"
else
  not_ok "canonical entry texts match canonical/SHA256SUMS"
fi
links_ok=true
for f in $(cd "$vectors/canonical" && find . -name 'entry-*.txt' | sort); do
  dir=$(dirname "$f")
  i=$(basename "$f" .txt | sed 's/entry-0*//; s/^$/0/')
  next=$(jq -r ".entries[$((i + 1))].prev // empty" "$vectors/$dir/manifest.json")
  [ -z "$next" ] && continue
  hash=$(sha256sum < "$vectors/canonical/$f" | cut -c1-64)
  if [ "$hash" != "$next" ]; then
    links_ok=false
    echo "# $f hashes to $hash, the next entry's prev is $next"
  fi
done
if $links_ok; then ok "each canonical text is its successor's prev"; else not_ok "each canonical text is its successor's prev"; fi

for nd in "$vectors"/negative/*/; do
  name=$(basename "$nd")
  prev=
  [ -d "$nd/previous" ] && prev=$nd/previous
  if [ -f "$nd/options" ] && grep -q no-key "$nd/options"; then k=; else k=$key; fi
  out=$("$ctl" verify ${k:+--key "$k"} --identity "$work/site.key" \
    ${prev:+--previous "$prev"} "$nd/incident" 2>&1)
  rc=$?
  got=$(echo "$out" | grep -v '^info: \|^OK: \|^FAILED: ' | sed 's/:.*//' | sort -u)
  must=$(sed -n 's/^must: //p' "$nd/expect" | sort -u)
  allowed=$(sed -n 's/^\(must\|may\): //p' "$nd/expect" | sort -u)
  missing=$(echo "$must" | while read -r w; do echo "$got" | grep -qx "$w" || echo "$w"; done)
  extra=$(echo "$got" | while read -r w; do [ -z "$w" ] || echo "$allowed" | grep -qx "$w" || echo "$w"; done)
  if [ "$rc" -eq 1 ] && [ -z "$missing" ] && [ -z "$extra" ]; then
    ok "ansimctl verify negative/$name: $(echo "$must" | tr '\n' ',' | sed 's/,$//')"
  else
    not_ok "ansimctl verify negative/$name (exit $rc; missing: $missing; not allowed: $extra)" "$out"
  fi
  if grep -qx 'must: broken chain' "$nd/expect" && ! grep -q 'may: \|must: [^b]' "$nd/expect"; then
    out=$(sh "$work/check-chain" "$nd/incident" ${prev:+"$prev"} 2>&1)
    rc=$?
    if [ "$rc" -eq 1 ] && echo "$out" | grep -q '^broken chain'; then
      ok "chain recipe on negative/$name: broken chain"
    else
      not_ok "chain recipe on negative/$name (exit $rc)" "$out"
    fi
  fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
