#!/usr/bin/env python3
"""DNS-01 hook for certbot, lego and dehydrated: sets and clears the
``_acme-challenge`` TXT record through pebble-challtestsrv's management API
(its URL in ``$CHALLTESTSRV_URL``). Standard library only: the clients run it
as their own child process.

    certbot     --manual-auth-hook 'hook.py present' --manual-cleanup-hook 'hook.py cleanup'
                (CERTBOT_DOMAIN, CERTBOT_VALIDATION in the environment)
    lego        --dns exec, EXEC_PATH=hook.py: ``hook.py present|cleanup FQDN VALUE``
    dehydrated  HOOK=hook.py: ``hook.py deploy_challenge|clean_challenge DOMAIN TOKEN_FILE VALUE``
                (every other dehydrated event is ignored)
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

PRESENT = {"present", "deploy_challenge"}
CLEANUP = {"cleanup", "clean_challenge"}


def record(args: list[str]) -> tuple[str, str]:
    """The TXT record's name (with a final dot) and value, in any client's calling convention."""
    if args[0] in {"deploy_challenge", "clean_challenge"}:
        name, value = "_acme-challenge." + args[1], args[3]
    elif len(args) == 3:
        name, value = args[1], args[2]
    else:
        name, value = "_acme-challenge." + os.environ["CERTBOT_DOMAIN"], os.environ["CERTBOT_VALIDATION"]
    return name.rstrip(".") + ".", value


def call(path: str, body: dict[str, str]) -> None:
    request = urllib.request.Request(os.environ["CHALLTESTSRV_URL"] + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def main(args: list[str]) -> int:
    if not args or args[0] not in PRESENT | CLEANUP:
        return 0
    name, value = record(args)
    if args[0] in PRESENT:
        call("/set-txt", {"host": name, "value": value})
    else:
        call("/clear-txt", {"host": name})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
