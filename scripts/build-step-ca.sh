#!/usr/bin/env bash
# Build step-ca 0.19 from Debian's golang-github-smallstep-certificates-dev source (GO111MODULE=off)
# with a minimal main package, cache it under .cache/step-ca/ in the checkout, print the binary's path.
# Debian's smallstep/nosql (0.3.8) gets nosql 0.4.0's PostgreSQL driver laid over it (scripts/step-ca-nosql/),
# so that db.type postgresql works as well as mysql, badger and bbolt.
# Usage: scripts/build-step-ca.sh   (needs golang-go, golang-github-smallstep-certificates-dev,
#                                    golang-github-jackc-pgx-v4-dev)
# The binary takes: step-ca-bench CONFIG_JSON PASSWORD_FILE  (or: eab CONFIG_JSON PROVISIONER_ID REFERENCE)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/step-ca"
# the binary's name changes with this script and the overlay, so a stale build is never reused
version="$(cat "$0" "$root"/scripts/step-ca-nosql/nosql.go "$root"/scripts/step-ca-nosql/postgresql/postgresql.go \
    | sha256sum | cut -c1-12)"
binary="$cache/step-ca-bench-$version"
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
src=/usr/share/gocode/src/github.com/smallstep/certificates
[ -d "$src/ca" ] || { echo "missing $src: apt-get install golang-github-smallstep-certificates-dev golang-go" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/stepcabench" "$work/src/github.com/smallstep"
cp -r /usr/share/gocode/src/github.com/smallstep/nosql "$work/src/github.com/smallstep/nosql"
chmod -R u+w "$work/src/github.com/smallstep/nosql"
cp "$root/scripts/step-ca-nosql/nosql.go" "$work/src/github.com/smallstep/nosql/nosql.go"
cp -r "$root/scripts/step-ca-nosql/postgresql" "$work/src/github.com/smallstep/nosql/"
cat > "$work/src/stepcabench/main.go" <<'GO'
// Command stepcabench runs step-ca's own ca.New/Run on a ca.json, the intermediate key's password read from a file;
// "eab" creates an ACME External Account Binding key in the ca.json's database with step-ca's own code (its
// open-source admin API leaves that to Certificate Manager) and prints {"id", "key" (base64url)}.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log"
	"os"

	acmenosql "github.com/smallstep/certificates/acme/db/nosql"
	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/ca"
	"github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql"
)

func main() {
	if len(os.Args) == 5 && os.Args[1] == "eab" {
		createEAB(os.Args[2], os.Args[3], os.Args[4])
		return
	}
	if len(os.Args) != 3 {
		log.Fatal("usage: step-ca-bench CONFIG_JSON PASSWORD_FILE | step-ca-bench eab CONFIG_JSON PROVISIONER_ID REFERENCE")
	}
	cfg, err := config.LoadConfiguration(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	password, err := os.ReadFile(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	srv, err := ca.New(cfg, ca.WithConfigFile(os.Args[1]), ca.WithPassword(bytes.TrimSpace(password)))
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Run(); err != nil {
		log.Fatal(err)
	}
}

func createEAB(configFile, provisionerID, reference string) {
	cfg, err := config.LoadConfiguration(configFile)
	if err != nil {
		log.Fatal(err)
	}
	authDB, err := db.New(cfg.DB)
	if err != nil {
		log.Fatal(err)
	}
	defer authDB.Shutdown()
	acmeDB, err := acmenosql.New(authDB.(nosql.DB))
	if err != nil {
		log.Fatal(err)
	}
	key, err := acmeDB.CreateExternalAccountKey(context.Background(), provisionerID, reference)
	if err != nil {
		log.Fatal(err)
	}
	out := map[string]string{"id": key.ID, "key": base64.RawURLEncoding.EncodeToString(key.KeyBytes)}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}
}
GO
GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOCACHE="$cache/gocache" \
    go build -o "$binary.tmp" stepcabench >&2
mv "$binary.tmp" "$binary"
echo "$binary"
