// Package ledger is infraplane's audit ledger: an append-only,
// tamper-evident record of who changed what — GitOps syncs, controllers'
// cloud writes, direct edits of managed objects, break-glass sessions —
// kept in one file that survives restarts (DATA_DIR/ledger.jsonl for
// `infraplane up`), or in a PostgreSQL table when configured (see "In
// PostgreSQL" below), and read with `infraplane audit`.
//
// # File format
//
// JSON Lines, UTF-8: one Entry per line, each line ending in "\n", members
// in the order of the Entry struct, empty optional members left out, and
// "prev" and then "hash" always last:
//
//	{"seq":1,"time":"2026-11-25T23:21:59.742825409Z","type":"cloud-write","actor":"controller/Topic","object":"Topic team-a/orders","summary":"updated labels, messageRetentionDuration (drift repair) of projects/p/topics/orders","fields":["labels","messageRetentionDuration"],"details":{"cause":"drift-repair","operation":"update","resource":"projects/p/topics/orders"},"prev":"","hash":"e5664a3b2d4e586f426484fa1a4a2ce1744cc1d499c5a6a7831fdebe9881a929"}
//
// seq is 1 on the first line and grows by one per line, without gaps; time
// is UTC, RFC 3339 with nanoseconds; prev is the previous line's hash, ""
// on the first line.
//
// # What is hashed
//
// hash is the lowercase hex SHA-256 of the line's bytes without its hash
// member: take the line without its newline, cut the trailing
// `,"hash":"<64 hex digits>"}` and put back the closing `}`. What remains,
// byte for byte as it is in the file, is hashed. It ends with
// `"prev":"<hex>"}`, so each hash covers the previous one and the lines
// form a chain. The bytes on disk are what is hashed, so checking needs no
// canonical JSON encoder; a complete check in Python:
//
//	import hashlib, json, sys
//	prev, seq = "", 0
//	for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
//	    line = line.rstrip("\n")
//	    i = line.rindex(',"hash":"')
//	    body, stored = line[:i] + "}", line[i+9:-2]
//	    e = json.loads(line)
//	    assert hashlib.sha256(body.encode()).hexdigest() == stored, f"line {n}: hash mismatch"
//	    assert e["seq"] == seq + 1 and e["prev"] == prev, f"line {n}: chain broken"
//	    prev, seq = stored, e["seq"]
//	print(seq, "entries, last hash", prev)
//
// Verify does the same and names the first broken line: an edited entry
// fails its hash; an entry edited and re-hashed breaks the next line's
// prev; deleted, reordered or duplicated lines break seq; a line cut short
// has no newline. The chain has no secret key: someone who can write the
// file can rewrite it all, from the edit on, with fresh hashes, and can cut
// whole lines off its end. Either shows when the last hash is compared
// with one recorded earlier elsewhere: publish Ledger.Head (or `infraplane
// audit --verify`'s last hash) where the writer of the file cannot change
// it, and compare.
//
// # Writing
//
// (A ledger file; a database ledger is below.) Open takes an exclusive
// lock (flock, on Unix) on the file: one appender per ledger. Entries are
// written with O_APPEND, as whole lines, and fsynced before Append returns.
// Appends that arrive together share one write and one fsync (group
// commit), in the order Append was called.
// Measured on the development machine (2 vCPU AMD EPYC VM, ext4 on a
// shared virtio disk, Go 1.26; the disk's fsync latency varied between
// runs, 0.15–0.5 ms): one appender at a time 1,900–7,000 appends/s, most
// runs 2,200–6,000 (one fsync each); 8 concurrent appenders 11,000–25,000
// appends/s; 64 concurrent appenders ≈ 34,000 appends/s. Verify checks ≈
// 80,000 entries/s (100,000 entries, 53 MB, in 1.3 s). Reproduce with
// `go test ./internal/ledger -run '^$' -bench Append`.
//
// On Open only the last line is read (Open is instant whatever the size):
// its seq and hash continue the chain. If that line is incomplete — a crash
// in the middle of a write — or does not match its hash, Open refuses with
// an error wrapping ErrCorrupt. The ledger is never rewritten, repaired or
// truncated behind anyone's back; the one exception is a write of this
// process that fails half-way (disk full): those bytes, past the last
// complete entry, are cut off again, and if that fails too, or an fsync
// fails, the Ledger refuses all further appends.
//
// # Reading
//
// Read and Verify take no lock and work while another process appends
// (`infraplane audit` against a running `infraplane up`): an unfinished
// last line is skipped by Read, and reported by Verify.
//
// # In PostgreSQL
//
// OpenLocation, ReadLocation and VerifyLocation (and Open, Read and
// Verify, which take the same strings) pick the store from the location: a
// PostgreSQL URL, postgres://user:password@host:port/database?sslmode=…
// (or postgresql://…; see IsDatabase), is a database ledger; anything else
// is a file path. The entries, their lines and their hashes are the same:
// only where the lines are kept differs. The table, created by the first
// Open if missing (which needs the CREATE privilege on the schema; found
// through search_path, so ?search_path=team_a puts it in a schema):
//
//	CREATE TABLE infraplane_ledger (
//		seq  bigint PRIMARY KEY CHECK (seq > 0),
//		time timestamptz NOT NULL,
//		line text NOT NULL
//	);
//	CREATE INDEX infraplane_ledger_time ON infraplane_ledger (time);
//
// line is the entry's line exactly as a ledger file holds it, without its
// newline: the hashed bytes, stored as they are (the database must be UTF8
// or SQL_ASCII: Open checks). The rows are a ledger file, byte for byte:
//
//	psql "$URL" -Atc 'SELECT line FROM infraplane_ledger ORDER BY seq' > ledger.jsonl
//
// verifies with the Python recipe above or `infraplane audit --verify
// --ledger ledger.jsonl`, with the same last hash. seq and time repeat the
// line's seq and time (to the microsecond) for ordering and for bounding
// reads by time; Verify checks that they match the line (ProblemColumn).
//
// Appending: any number of Ledgers in any number of processes — controller
// replicas — may append to one table. Each batch of entries is one
// transaction (read committed, whatever the database's default): take a
// transaction-level advisory lock (pg_advisory_xact_lock, keyed by the
// table's OID), read the last row and check it against its hash, chain the
// batch after it, insert, commit; the lock is held until the commit, so
// the next appender reads this batch's last row. The seq primary key is a
// second guard: two rows with one seq cannot both be committed. The
// advisory lock needs no privilege on the table, so the appending role
// needs only SELECT and INSERT: grant no UPDATE, DELETE or TRUNCATE to
// it, and a controller cannot rewrite history even by mistake. An edited
// last row (its line does not match its hash, or its columns its line)
// makes Open, and every Append, fail with ErrCorrupt. A lost connection
// (server restart, fail-over) is re-established, and the batch tried once
// more; when a COMMIT's answer is lost, the Ledger looks for its last row
// before deciding whether the batch was written. Head is the last entry
// this Ledger wrote or saw: other replicas may be ahead. Each entry's time
// is its replica's clock: seq orders the ledger, and times of entries from
// different replicas can be out of order by the replicas' clock skew.
//
// Reading: Read queries the rows within the filter's time bounds (widened
// by a millisecond, as the column holds microseconds) in seq order and
// applies the whole Filter to each parsed line here, so it returns exactly
// what Read of the same ledger as a file would; the other filters (object,
// type, actor) are not pushed to the server. Verify reads every row in seq
// order and checks each line as a file's line: an UPDATE of a line fails
// its hash (ProblemHash; or, re-hashed, the next row's prev); a DELETE
// leaves a seq gap, lines swapped between rows, or rows renumbered,
// appear out of order (ProblemSeq) or disagree with their seq column
// (ProblemColumn). Problem.Line is then the row number in seq order. As
// with a file, rows cut off the end, or a table rewritten from some entry
// on with new hashes, show only against a published hash.
//
// Measured on the development machine (2 vCPU VM, PostgreSQL 15 on the
// same machine over loopback TCP, Go 1.26; two round trips per batch;
// other builds running, and the shared disk's fsync latency varying
// several-fold between runs): one appender at a time 6,200–7,800
// appends/s with fsync=off (the test server's setting), 320–2,800 with
// fsync=on; 8 concurrent appenders on one Ledger 15,000–22,000 appends/s
// with fsync=off, 1,900–12,500 with fsync=on; the same 8 spread over two
// Ledgers (replicas taking turns at the lock) 6,600–12,400 and
// 1,100–6,700. Reproduce with `go test ./internal/ledger -run '^$' -bench
// PG`.
//
// # No secrets
//
// An Entry names fields, never their values: there is no member for a
// value. Details is the one free-form map, and Append drops every key that
// SecretKey flags (containing password, passwd, passphrase, secret, token,
// key, credential, private or cookie, in any case) and every value that
// holds a PEM block ("-----BEGIN ") or starts with "Bearer "; the dropped
// keys are listed under Details["redacted"]. Summary, Reason and Error are
// free text too: callers put names and cloud error messages there, never
// values of fields.
//
// # Metrics
//
// In controller-runtime's registry: infraplane_ledger_entries_total{type}
// and infraplane_ledger_append_errors_total. The managed.Auditor adapter
// (Ledger.CloudWrite) never fails a reconcile: it logs an append error with
// slog and counts it.
package ledger
