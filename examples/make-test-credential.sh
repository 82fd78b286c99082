#!/usr/bin/env bash
# Makes a throwaway grid credential in DIR: a test CA (DIR/certificates, hashed
# for X509_CERT_DIR) and a user certificate + passphrase-protected key, the way
# a real grid CA issues them. For demos and benchmarks only.
# usage: examples/make-test-credential.sh DIR [PASSPHRASE]
set -euo pipefail
dir=${1:?usage: $0 DIR [PASSPHRASE]}
pass=${2:-demo-passphrase}
mkdir -p "$dir/certificates"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
  -subj "/DC=org/DC=example/CN=Demo CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -keyout userkey.pem -passout "pass:$pass" -out user.csr \
  -subj "/DC=org/DC=example/O=Demo/CN=Demo User" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature,keyEncipherment,dataEncipherment" "extendedKeyUsage=clientAuth" > user.ext
openssl x509 -req -in user.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out usercert.pem -extfile user.ext 2>/dev/null
chmod 0644 usercert.pem
chmod 0400 userkey.pem
cp ca.pem "certificates/$(openssl x509 -noout -hash -in ca.pem).0"
rm -f user.csr user.ext ca.srl
