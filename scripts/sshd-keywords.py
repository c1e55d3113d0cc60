#!/usr/bin/env python3
"""Print sshd_config's keyword table for every OpenSSH portable release.

Reads servconf.c/servconf.h of each release tag from a clone of openssh-portable
(`git -C REPO show TAG:servconf.c`) and evaluates the #ifdef lines around the
table the way a Linux distribution build sets them (PAM, GSSAPI, Kerberos, zlib
on; AFS off, lastlog on).  Output, one line per keyword:

    keyword <TAB> kind@first-release ... (one entry per change)

where kind is `kw` (a real option, flags G=global only, A=global and Match),
`dep` (deprecated: logged and ignored), `ign` (silently ignored) or `uns`
(unsupported in this build).  src/sshd/config/keywords.rs is written from this
output; run it again to check that table after OpenSSH releases.

usage: scripts/sshd-keywords.py REPO > keywords.tsv
"""
import re
import subprocess
import sys

DEFINED = {"USE_PAM", "KRB5", "GSSAPI", "WITH_ZLIB", "OPENSSL_HAS_ECC", "WITH_OPENSSL"}


def tags(repo):
    out = subprocess.run(["git", "-C", repo, "tag"], capture_output=True, text=True, check=True).stdout
    found = []
    for t in out.split():
        m = re.fullmatch(r"V_(\d+)_(\d+)_P1", t)
        if m and (int(m[1]), int(m[2])) >= (7, 0):
            found.append(((int(m[1]), int(m[2])), t))
    return sorted(found)


def show(repo, tag, path):
    r = subprocess.run(["git", "-C", repo, "show", f"{tag}:{path}"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""


def active_lines(text):
    """Yield lines whose #if/#ifdef context is true for a Linux build."""
    stack = []
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"#\s*(ifdef|ifndef|if|elif|else|endif)\b\s*(.*)", s)
        if m:
            d, arg = m[1], m[2]
            if d in ("ifdef", "ifndef", "if"):
                if d == "ifdef":
                    v = arg.split()[0] in DEFINED
                elif d == "ifndef":
                    v = arg.split()[0] not in DEFINED
                else:
                    names = re.findall(r"defined\s*\(?\s*(\w+)", arg)
                    v = any(n in DEFINED for n in names) if "||" in arg else all(n in DEFINED for n in names) if names else False
                    if "!" in arg and len(names) == 1:
                        v = names[0] not in DEFINED
                stack.append([v, v])
            elif d == "elif":
                stack[-1][0] = False if stack[-1][1] else True
            elif d == "else":
                stack[-1][0] = not stack[-1][1]
            elif d == "endif":
                stack.pop()
            continue
        if all(v for v, _ in stack):
            yield line


def table(repo, tag):
    c = show(repo, tag, "servconf.c")
    h = show(repo, tag, "servconf.h")
    entries = {}
    body = c[c.find("} keywords[] = {"):]
    body = body[: body.find("};")]
    macro = "SSHD_CONFIG_ENTRIES" in body
    src = h if macro else body
    for line in active_lines(src if not macro else h):
        m = re.search(r'\{\s*"(\w+)",\s*(\w+),\s*(\w+)', line)
        if m:
            entries[m[1]] = classify(m[2], m[3])
            continue
        m = re.match(r"\s*SSHCONF_(\w+)\((.*)\)\s*\\?\s*$", line)
        if not m:
            continue
        kind, args = m[1], [a.strip() for a in m[2].split(",")]
        if kind == "NONCONF":
            continue
        if kind in ("INT", "INTFLAG", "STRING"):
            name, flags, op = args[1], args[2], "s" + args[1]
        elif kind == "STRARRAY":
            name, flags, op = args[2], args[3], "s" + args[2]
        elif kind == "CUSTOM":
            name, flags, op = args[0], args[2], "s" + args[0]
        elif kind == "DEPRECATE":
            name, flags, op = args[0], args[1], {"SSHCONF_DEPRECATED": "sDeprecated", "SSHCONF_IGNORE": "sIgnore"}.get(args[2], args[2])
        elif kind in ("UNSUPPORTED_INT", "UNSUPPORTED_STRING"):
            name, flags, op = args[1], args[2], "sUnsupported"
        elif kind == "ALIAS":
            name, flags, op = args[0], args[2], "s" + args[1]
        else:
            continue
        entries[name.lower()] = classify(op, flags)
    if macro:
        for line in active_lines(body):
            m = re.search(r'\{\s*"(\w+)",\s*(\w+),\s*(\w+)', line)
            if m:
                entries[m[1]] = classify(m[2], m[3])
    return entries


def classify(op, flags):
    if op == "sDeprecated":
        return "dep"
    if op == "sIgnore":
        return "ign"
    if op == "sUnsupported":
        return "uns"
    return "kw:" + ("A" if "ALL" in flags or "MATCH" in flags else "G")


def main():
    repo = sys.argv[1]
    history = {}
    for ver, tag in tags(repo):
        t = table(repo, tag)
        for k in set(history) | set(t):
            state = t.get(k, "-")
            h = history.setdefault(k, [])
            if not h or h[-1][1] != state:
                h.append((ver, state))
    for k in sorted(history):
        print(k + "\t" + " ".join(f"{s}@{v[0]}.{v[1]}" for v, s in history[k]))


if __name__ == "__main__":
    main()
