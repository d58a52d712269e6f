#!/usr/bin/env bash
# Build smallstep's `step` CLI 0.15.16 from Debian's source (GO111MODULE=off, against /usr/share/gocode) with a
# minimal main package, cache it under .cache/step-cli/ in the checkout, print the binary's path.
# Debian's golang-github-smallstep-cli-dev ships only part of the tree (no cmd/step, flags, jose, token,
# utils/cautils, crypto/sshutil, exec), so the full tree comes from Debian's source package
# (`apt-get source`, deb-src derived from this machine's Debian apt sources into a private list directory),
# with the -dev package's Debian-patched files laid over it. Three command files are left out, with their
# subcommands: `step certificate inspect|lint|install|uninstall` (they need zcrypto, zlint and certinfo,
# none packaged in Debian) and `step ca init` (written against certificates 0.15's pki API; Debian has 0.19).
# Usage: scripts/build-step-cli.sh   (needs golang-go, golang-github-smallstep-cli-dev,
#   golang-github-smallstep-certificates-dev, golang-github-smallstep-truststore-dev,
#   golang-sslmate-src-go-pkcs12-dev, golang-github-pquerna-otp-dev)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/step-cli"
dev=/usr/share/gocode/src/github.com/smallstep/cli
[ -d "$dev/command/ca" ] || { echo "missing $dev: apt-get install golang-github-smallstep-cli-dev golang-go" >&2; exit 1; }
mkdir -p "$cache/source"
orig="$(ls "$cache"/source/golang-github-smallstep-cli_*.orig.tar.* 2>/dev/null | head -1 || true)"
if [ -z "$orig" ]; then
    apt="$cache/apt"
    mkdir -p "$apt/lists/partial" "$apt/parts"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] && sed 's/^Types: deb$/Types: deb-src/' "$f" > "$apt/parts/$(basename "$f")"
    done
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null > "$apt/parts/src.list" || true
    aptopts=(-q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/parts" -o "Dir::State::Lists=$apt/lists")
    apt-get "${aptopts[@]}" update >&2
    # only the upstream tarball is used; the -dev package carries Debian's patches
    (cd "$cache/source" && apt-get "${aptopts[@]}" source --download-only golang-github-smallstep-cli >&2 || true)
    rm -rf "$apt"
    orig="$(ls "$cache"/source/golang-github-smallstep-cli_*.orig.tar.* 2>/dev/null | head -1 || true)"
    [ -n "$orig" ] || { echo "could not download Debian's golang-github-smallstep-cli source" >&2; exit 1; }
fi
# the binary's name changes with this script, the source and the packaged Go libraries, so a stale build is never reused
version="$( (cat "$0" "$orig"; dpkg-query -W -f '${Version}\n' golang-github-smallstep-cli-dev \
    golang-github-smallstep-certificates-dev) | sha256sum | cut -c1-12)"
binary="$cache/step-$version"
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tree="$work/src/github.com/smallstep/cli"
mkdir -p "$tree" "$work/src/stepcli"
tar -xf "$orig" -C "$tree" --strip-components=1
cp -r "$dev/." "$tree/"
chmod -R u+w "$tree"
rm "$tree"/command/certificate/{inspect,lint,install}.go "$tree/command/ca/init.go"
sed -i -E '/^\t+(inspect|lint|install|uninstall)Command\(\),$/d' "$tree/command/certificate/certificate.go"
sed -i -E '/^\t+initCommand\(\),$/d' "$tree/command/ca/ca.go"
cat > "$work/src/stepcli/main.go" <<'GO'
// Command step is smallstep's CLI assembled from Debian's source: it registers the same command groups as
// upstream's cmd/step (each package registers itself in its init) and runs them with urfave/cli.
package main

import (
	"fmt"
	"os"

	"github.com/smallstep/cli/command"
	"github.com/smallstep/cli/command/version"
	"github.com/smallstep/cli/config"
	"github.com/smallstep/cli/usage"
	"github.com/urfave/cli"

	_ "github.com/smallstep/cli/command/base64"
	_ "github.com/smallstep/cli/command/ca"
	_ "github.com/smallstep/cli/command/certificate"
	_ "github.com/smallstep/cli/command/crypto"
	_ "github.com/smallstep/cli/command/fileserver"
	_ "github.com/smallstep/cli/command/oauth"
	_ "github.com/smallstep/cli/command/path"
	_ "github.com/smallstep/cli/command/ssh"
)

func main() {
	config.Set("Smallstep CLI", "0.15.16+ds", "N/A")
	cli.VersionPrinter = func(c *cli.Context) { version.Command(c) }
	cli.AppHelpTemplate = usage.AppHelpTemplate
	cli.SubcommandHelpTemplate = usage.SubcommandHelpTemplate
	cli.CommandHelpTemplate = usage.CommandHelpTemplate
	cli.HelpPrinter = usage.HelpPrinter
	cli.FlagNamePrefixer = usage.FlagNamePrefixer

	app := cli.NewApp()
	app.Name = "step"
	app.HelpName = "step"
	app.Usage = "plumbing for distributed systems"
	app.Version = config.Version()
	app.Commands = command.Retrieve()
	app.Flags = append(app.Flags, cli.HelpFlag, cli.StringFlag{
		Name:  "config",
		Usage: "path to the config file to use for CLI flags",
	})
	app.Writer = os.Stdout
	app.ErrWriter = os.Stderr
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
GO
GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOCACHE="$cache/gocache" \
    go build -o "$binary.tmp" stepcli >&2
mv "$binary.tmp" "$binary"
echo "$binary"
