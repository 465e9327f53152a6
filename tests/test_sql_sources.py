"""SQL sources on real PostgreSQL and MariaDB servers: read-only session and transaction, only SELECT/WITH.

A throwaway server is started for the module (initdb or mariadb-install-db into a temporary
folder, listening on a unix socket there, never a TCP port). As root PostgreSQL runs as the
`postgres` user (`runuser`, else `su`) and MariaDB as `mysql`. Without a server's binaries or its
driver (psycopg, pymysql) those tests skip and say why; `.ci/run` installs Debian's postgresql
and mariadb-server so CI runs them.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from riskengine.errors import DataError
from riskengine.ingest import _read_sql, load_data
from riskengine.spec import DataSpec, Source

TODAY = dt.date(2026, 11, 22)


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _as_server_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as `postgres` then."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(cmd)]


@pytest.fixture(scope="module")
def server():
    """A PostgreSQL URL for database `council` (superuser `riskengine`), and a superuser connection maker."""
    psycopg = pytest.importorskip("psycopg", reason="the psycopg driver is not installed (pip install 'psycopg[binary]')")
    bindir = _binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
    root = Path(tempfile.mkdtemp(prefix="riskengine-pg-", dir="/tmp"))  # short: a socket path has a length limit
    root.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(root, user.pw_uid, user.pw_gid)
    data, log = root / "data", root / "server.log"
    try:
        subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "riskengine",
                                        "-E", "UTF8", "--no-sync"]), check=True, capture_output=True, timeout=120)
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                                        "-o", f"-k {root} -c listen_addresses='' -c fsync=off", "start"]),
                       check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[-500:]
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL server: {detail or exc}")

    def connect(dbname: str = "council"):
        return psycopg.connect(host=str(root), user="riskengine", dbname=dbname, autocommit=True)

    try:
        with connect("postgres") as conn:
            conn.execute("CREATE DATABASE council")
        with connect() as conn:
            conn.execute("CREATE TABLE complaints (entity_id bigint, date date, type text, value double precision)")
            conn.execute("INSERT INTO complaints VALUES (1, '2021-01-05', 'noise', 1), (2, '2021-02-01', 'pest', NULL),"
                         " (3, '2999-01-01', 'noise', 2)")
        yield f"postgresql+psycopg://riskengine@/council?host={root}", connect
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _tables(connect) -> set[str]:
    with connect() as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_a_postgresql_source_is_read_through_the_data_contract(server, tmp_path):
    url, _ = server
    (tmp_path / "e.csv").write_text("entity_id\n1\n2\n3\n")
    spec = DataSpec(entities=Source(tmp_path / "e.csv"),
                    events={"complaints": Source(sql="SELECT entity_id, date, type, value FROM complaints", url=url)},
                    max_reject_share=1)
    data = load_data(spec, today=TODAY)
    kept = data.events.sort_values("entity_id")
    assert list(kept["entity_id"]) == ["1", "2"] and list(kept["type"]) == ["noise", "pest"]
    assert list(data.rejects["reason"].str.contains("in the future")) == [True]  # rows in = kept + rejected


def test_the_session_and_the_transaction_are_read_only(server):
    url, _ = server
    src = Source(sql="SELECT current_setting('transaction_read_only') AS tx, "
                     "current_setting('default_transaction_read_only') AS session", url=url)
    assert _read_sql(src).iloc[0].to_dict() == {"tx": "on", "session": "on"}


SMUGGLED = [
    "CREATE TABLE smuggled (a int)",
    "WITH x AS (INSERT INTO complaints VALUES (9, '2021-01-01', 'x', 0) RETURNING *) SELECT * FROM x",
    "SELECT 1 AS a; CREATE TABLE smuggled (a int)",
    "COMMIT; CREATE TABLE smuggled (a int)",
    "SET default_transaction_read_only = off; CREATE TABLE smuggled (a int)",
    "SELECT * INTO smuggled FROM complaints",
]


@pytest.mark.parametrize("sql", SMUGGLED)
def test_writes_are_refused_at_load_and_by_the_server(server, sql):
    url, connect = server
    with pytest.raises(ValueError, match="one SELECT or WITH"):  # the spec check, when the spec is read
        Source(sql=sql, url=url)
    src = Source(sql="SELECT 1 AS a", url=url)
    src.sql = sql  # as if it had slipped past that check: the server itself refuses to write
    with pytest.raises(DataError, match="query failed"):
        _read_sql(src)
    assert "smuggled" not in _tables(connect)
    with connect() as conn:
        assert conn.execute("SELECT count(*) FROM complaints").fetchone()[0] == 3


def test_a_bad_query_or_server_is_one_clear_error(server):
    url, _ = server
    with pytest.raises(DataError, match=r"council\?host=.* :: SELECT \* FROM no_such_table: query failed: "
                                        r"relation \"no_such_table\" does not exist"):
        load_data(DataSpec(entities=Source(sql="SELECT * FROM no_such_table", url=url)), today=TODAY)
    gone = url.replace("/council?", "/no_such_database?")
    with pytest.raises(DataError, match="query failed: .*no_such_database"):
        _read_sql(Source(sql="SELECT 1 AS a", url=gone))


# ---------------------------------------------------------------------------------------
# MySQL / MariaDB
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb():
    """A MySQL URL for database `council` (user root, no password, unix socket only), and a root connection maker."""
    pymysql = pytest.importorskip("pymysql", reason="the pymysql driver is not installed (pip install pymysql)")
    server = shutil.which("mariadbd") or shutil.which("mysqld") or next(
        (p for p in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld") if Path(p).is_file()), None)
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if server is None or install is None:
        pytest.skip("no MariaDB server binaries (mariadbd, mariadb-install-db): apt-get install mariadb-server")
    as_user = []
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("mysql")
        except KeyError:
            pytest.skip("running as root and there is no 'mysql' user to run the server as")
        as_user = ["--user=mysql"]
    root = Path(tempfile.mkdtemp(prefix="riskengine-my-", dir="/tmp"))
    root.chmod(0o777)
    data, sock = root / "data", root / "sock"
    proc = None
    try:
        subprocess.run([install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", *as_user], check=True, capture_output=True, timeout=180)
        proc = subprocess.Popen([server, "--no-defaults", f"--datadir={data}", f"--socket={sock}", "--skip-networking",
                                 f"--pid-file={root / 'pid'}", f"--log-error={root / 'server.log'}", *as_user],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            if sock.exists():
                break
            if proc.poll() is not None:
                raise RuntimeError((root / "server.log").read_text()[-500:] if (root / "server.log").exists() else "exited")
            time.sleep(0.1)
        else:
            raise RuntimeError("no socket after 30 s")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, RuntimeError) as exc:
        if proc is not None:
            proc.kill()
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[-500:]
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a throwaway MariaDB server: {detail or exc}")

    def connect(db: str | None = "council"):
        return pymysql.connect(unix_socket=str(sock), user="root", database=db, autocommit=True)

    try:
        conn = connect(None)
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE council")
            cur.execute("CREATE TABLE council.complaints (entity_id bigint, date date, type text, value double)")
            cur.execute("INSERT INTO council.complaints VALUES (1, '2021-01-05', 'noise', 1), (2, '2021-02-01', 'pest', NULL),"
                        " (3, '2999-01-01', 'noise', 2)")
        conn.close()
        yield f"mysql+pymysql://root@localhost/council?unix_socket={sock}", connect
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)


def _my_tables(connect) -> set[str]:
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        names = {r[0] for r in cur.fetchall()}
    conn.close()
    return names


def test_a_mariadb_source_is_read_read_only(mariadb, tmp_path):
    url, _ = mariadb
    (tmp_path / "e.csv").write_text("entity_id\n1\n2\n3\n")
    spec = DataSpec(entities=Source(tmp_path / "e.csv"),
                    events={"complaints": Source(sql="SELECT entity_id, date, type, value FROM complaints", url=url)},
                    max_reject_share=1)
    data = load_data(spec, today=TODAY)
    assert sorted(data.events["entity_id"]) == ["1", "2"]
    assert list(data.rejects["reason"].str.contains("in the future")) == [True]
    src = Source(sql="SELECT @@session.tx_read_only AS session", url=url)  # MariaDB 10 (MySQL 8: transaction_read_only)
    assert int(_read_sql(src).iloc[0]["session"]) == 1


MY_SMUGGLED = [
    "CREATE TABLE smuggled (a int)",
    "INSERT INTO complaints VALUES (9, '2021-01-01', 'x', 0)",
    "SELECT 1 AS a; CREATE TABLE smuggled (a int)",
    "COMMIT; CREATE TABLE smuggled (a int)",
    "SET SESSION TRANSACTION READ WRITE; CREATE TABLE smuggled (a int)",
]


@pytest.mark.parametrize("sql", MY_SMUGGLED)
def test_mariadb_writes_are_refused_at_load_and_by_the_server(mariadb, sql):
    url, connect = mariadb
    with pytest.raises(ValueError, match="one SELECT or WITH"):
        Source(sql=sql, url=url)
    src = Source(sql="SELECT 1 AS a", url=url)
    src.sql = sql  # as if it had slipped past that check
    with pytest.raises(DataError, match="query failed"):
        _read_sql(src)
    assert "smuggled" not in _my_tables(connect)
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM complaints")
        assert cur.fetchone()[0] == 3
    conn.close()
