#!/usr/bin/env bash
# Builds small real rpm packages with rpmbuild and installs them with rpm into a guest root, the
# way an RHEL-family system installs its packages (rpm from Debian's registry: sqlite backend).
#
#   scripts/rpm-fixtures.sh OUT            OUT/root: the guest tree, its database in
#                                          OUT/root/var/lib/rpm/rpmdb.sqlite
#   scripts/rpm-fixtures.sh OUT --dbs      also the other database forms, from the same headers:
#                                          OUT/dbs/bdb-le/Packages, OUT/dbs/bdb-be/Packages
#                                          (Berkeley DB hash files written by db_load, read back
#                                          by rpm's own bdb_ro backend), OUT/dbs/wal/ (an
#                                          rpmdb.sqlite whose last package lives only in -wal)
#
# Needs: rpm (rpmbuild), db5.3-util (db_load) for --dbs, python3; as root (rpm sets owners).
# The committed testdata/rpm/ files come from `scripts/rpm-fixtures.sh DIR --dbs`.
set -euo pipefail
OUT=$(realpath -m "$1")
DBS=${2:-}
rm -rf "$OUT"
mkdir -p "$OUT"/{top,root/etc,root/var/lib/rpm}
TOP=$OUT/top
ROOT=$OUT/root
# The guest's accounts: rpm --root resolves owner names here.
printf 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\nssh_keys:x:998:\n' > "$ROOT/etc/group"

spec() { # name version digest-algo body
  local name=$1 version=$2 algo=$3 body=$4
  cat > "$TOP/$name.spec" <<EOF
Name: $name
Version: $version
Release: 1.el9
Summary: rescue-inspect fixture $name
License: MIT
BuildArch: noarch
%description
Fixture package for rescue-inspect's rpm verification tests.
%install
$body
EOF
  rpmbuild -bb --quiet --define "_topdir $TOP" --define "_binary_filedigest_algorithm $algo" \
    --define "_build_id_links none" --define "__os_install_post %{nil}" "$TOP/$name.spec" >/dev/null
}

# SHA-256 digests (rpm's default): a program, a %config(noreplace) file, a symlink, a %ghost log,
# a directory with its own mode, a file with a group owner, %doc, a file excluded from the
# digest check with %verify(not md5 size mtime).
spec rescue-sshd 8.7p1 8 '
mkdir -p %{buildroot}/usr/sbin %{buildroot}/etc/ssh %{buildroot}/var/empty/sshd %{buildroot}/var/log %{buildroot}/usr/share/doc/rescue-sshd %{buildroot}/usr/libexec/openssh
printf "#!/bin/sh\necho sshd\n" > %{buildroot}/usr/sbin/sshd
printf "Port 22\nPermitRootLogin no\n" > %{buildroot}/etc/ssh/sshd_config
printf "helper\n" > %{buildroot}/usr/libexec/openssh/sshd-session
ln -s sshd %{buildroot}/usr/sbin/sshd-link
printf "docs\n" > %{buildroot}/usr/share/doc/rescue-sshd/README
printf "moduli v1\n" > %{buildroot}/etc/ssh/moduli
%files
%attr(0755,root,root) /usr/sbin/sshd
/usr/sbin/sshd-link
%attr(0755,root,root) /usr/libexec/openssh/sshd-session
%config(noreplace) %attr(0600,root,root) /etc/ssh/sshd_config
%verify(not md5 size mtime) %config /etc/ssh/moduli
%dir %attr(0711,root,root) /var/empty/sshd
%ghost /var/log/sshd.log
%doc /usr/share/doc/rescue-sshd/README
'
# MD5 digests (RHEL 7 era packages), a library and a file owned by a group.
spec rescue-libs 1.0 1 '
mkdir -p %{buildroot}/usr/lib64 %{buildroot}/etc
printf "\177ELF library bytes\n" > %{buildroot}/usr/lib64/librescue.so.1
printf "keys\n" > %{buildroot}/etc/rescue.keys
%files
%attr(0755,root,root) /usr/lib64/librescue.so.1
%attr(0640,root,ssh_keys) /etc/rescue.keys
'
spec rescue-late 2.0 8 '
mkdir -p %{buildroot}/usr/bin
printf "late\n" > %{buildroot}/usr/bin/late
%files
%attr(0755,root,root) /usr/bin/late
'

RPMS=$(find "$TOP/RPMS" -name '*.rpm' | sort)
rpm --root "$ROOT" --dbpath /var/lib/rpm --initdb
# --excludedocs: the %doc file is recorded as "not installed", like minimised images.
rpm --root "$ROOT" --dbpath /var/lib/rpm -i --nodeps --noscripts --excludedocs \
  $(echo "$RPMS" | grep -v rescue-late) >/dev/null 2>&1
rpm --root "$ROOT" --dbpath /var/lib/rpm -i --nodeps --noscripts $(echo "$RPMS" | grep rescue-late) >/dev/null 2>&1
# rpm leaves recent transactions in rpmdb.sqlite-wal, as on a real system; -shm is rebuilt
# from it by any reader.
rm -f "$ROOT"/var/lib/rpm/.rpm.lock "$ROOT"/var/lib/rpm/rpmdb.sqlite-shm

[ "$DBS" = --dbs ] || exit 0
DB_LOAD=$(command -v db_load || command -v db5.3_load) || { echo "db_load (db5.3-util) is needed for --dbs" >&2; exit 1; }
export DB_LOAD
mkdir -p "$OUT/dbs"/{bdb-le,bdb-be,wal}
python3 - "$ROOT/var/lib/rpm/rpmdb.sqlite" "$OUT/dbs" <<'EOF'
import sqlite3, struct, subprocess, sys, shutil, os
src, out = sys.argv[1], sys.argv[2]
rows = sqlite3.connect(src).execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
# Berkeley DB hash Packages, as rpm <= 4.15 wrote it: key = header number in the host's byte
# order, value = header blob; db_load -T reads alternating key/value lines with \xx escapes.
for order, fmt, lorder in (("le", "<I", "1234"), ("be", ">I", "4321")):
    text = "".join("".join("\\%02x" % b for b in struct.pack(fmt, n)) + "\n" +
                   "".join("\\%02x" % b for b in blob) + "\n" for n, blob in rows)
    subprocess.run([os.environ["DB_LOAD"], "-T", "-t", "hash", "-c", "db_pagesize=4096", "-c", "db_lorder=" + lorder,
                    os.path.join(out, "bdb-" + order, "Packages")], input=text.encode(), check=True)
# rpmdb.sqlite with the last package only in the write-ahead log: rpm's Packages table (same
# schema, same header blobs) written with every row but the last in the main file, then the last
# row added in WAL mode and both files copied while the connection is open (SQLite checkpoints
# on close).
wal = os.path.join(out, "wal")
tmp = os.path.join(wal, "work.sqlite")
con = sqlite3.connect(tmp)
con.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
con.executemany("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", rows[:-1])
con.commit()
con.close()
con = sqlite3.connect(tmp, isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", rows[-1])
shutil.copy(tmp, os.path.join(wal, "rpmdb.sqlite"))
shutil.copy(tmp + "-wal", os.path.join(wal, "rpmdb.sqlite-wal"))
con.close()
for f in ("work.sqlite", "work.sqlite-wal", "work.sqlite-shm"):
    p = os.path.join(wal, f)
    if os.path.exists(p):
        os.remove(p)
EOF
# rpm's own reader accepts the Berkeley DB files.
for d in bdb-le bdb-be; do
  rpm --dbpath "$OUT/dbs/$d" --define '_db_backend bdb_ro' -qa 2>/dev/null | sort > "$OUT/dbs/$d/rpm-qa.txt"
done
rpm --root "$ROOT" --dbpath /var/lib/rpm -qa | sort > "$OUT/dbs/rpm-qa.txt"
