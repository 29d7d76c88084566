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
// "prev", "hash" and (when the ledger has a key) "mac" always last:
//
//	{"seq":1,"time":"2026-11-25T23:21:59.742825409Z","type":"cloud-write","actor":"controller/Topic","object":"Topic team-a/orders","summary":"updated labels, messageRetentionDuration (drift repair) of projects/p/topics/orders","fields":["labels","messageRetentionDuration"],"details":{"cause":"drift-repair","operation":"update","resource":"projects/p/topics/orders"},"prev":"","hash":"e5664a3b2d4e586f426484fa1a4a2ce1744cc1d499c5a6a7831fdebe9881a929","mac":"k20261125:9b1f0c4e…(64 hex digits)"}
//
// seq is 1 on the first line and grows by one per line, without gaps; time
// is UTC, RFC 3339 with nanoseconds; prev is the previous line's hash, ""
// on the first line; mac is "<key ID>:<64 lowercase hex digits>".
//
// # What is hashed
//
// hash is the lowercase hex SHA-256 of the line's bytes without its hash
// and mac members: take the line without its newline, cut everything from
// the last `,"hash":"` on (the hash member and, if there is one, the mac
// member after it) and put back the closing `}`. What remains, byte for
// byte as it is in the file, is hashed. It ends with `"prev":"<hex>"}`, so
// each hash covers the previous one and the lines form a chain. The bytes
// on disk are what is hashed, so checking needs no canonical JSON encoder.
//
// # What is signed
//
// mac is HMAC-SHA256, under the key the key ID names, of the bytes
// "infraplane-ledger-mac-v1\n" followed by the entry's hash as its 64 hex
// characters; the first part keeps a MAC of the ledger from being taken
// for anything else made with the same key. The hash covers prev, so an
// entry's MAC vouches for the whole chain up to it, and only the hash
// needs signing. The chain and hash stay what they were before keys
// existed: a ledger written without a key verifies as before, and tools
// that check only the chain keep working.
//
// The keys are kept outside the ledger: for `infraplane up`,
// DATA_DIR/ledger.key (mode 0600, made on the first start; DefaultKeyPath,
// EnsureKeyFile), for the controller the file --ledger-key-file names,
// typically a mounted Kubernetes Secret. A key file holds one key per
// line, "ID SECRET": ID is 1 to 64 of A-Z a-z 0-9 . _ -, SECRET standard
// base64 (with padding) of at least 32 random bytes; lines starting with #
// are comments (ParseKeys). The first key signs new entries; the others
// only verify older ones. Someone who can write the ledger but not read
// the key can no longer rewrite it: the first entry they change, re-hash,
// renumber or add has a MAC that does not match, or none, or one of a key
// the verifier does not have. (For `infraplane up` the key sits in the
// data dir next to the ledger: it stops whoever can change the ledger file
// but not read the data dir — a copy, a backup — not the data dir's
// owner.)
//
// A complete check in Python (the key file as second argument is
// optional; without it, MACs are not checked):
//
//	import base64, hashlib, hmac, json, sys
//	keys = {}
//	for l in (open(sys.argv[2]) if len(sys.argv) > 2 else []):
//	    if l.strip() and not l.startswith("#"):
//	        kid, secret = l.split()
//	        keys[kid] = base64.b64decode(secret)
//	prev, seq, signed = "", 0, False
//	for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
//	    line = line.rstrip("\n")
//	    i = line.rindex(',"hash":"')
//	    body, stored = line[:i] + "}", line[i+9:i+73]
//	    e = json.loads(line)
//	    assert hashlib.sha256(body.encode()).hexdigest() == stored == e["hash"], f"line {n}: hash mismatch"
//	    assert e["seq"] == seq + 1 and e["prev"] == prev, f"line {n}: chain broken"
//	    assert "mac" in e or not signed, f"line {n}: MAC missing"
//	    if "mac" in e:
//	        signed = True
//	        kid, mac = e["mac"].split(":")
//	        if keys:
//	            assert kid in keys, f"line {n}: key {kid} not in the key file"
//	            want = hmac.new(keys[kid], b"infraplane-ledger-mac-v1\n" + stored.encode(), hashlib.sha256).hexdigest()
//	            assert hmac.compare_digest(mac, want), f"line {n}: MAC mismatch"
//	    prev, seq = stored, e["seq"]
//	print(seq, "entries, last hash", prev)
//
// Verify (VerifyWith, `infraplane audit --verify`) does the same and names
// the first broken line: an edited entry fails its hash; an entry edited
// and re-hashed breaks the next line's prev; deleted, reordered or
// duplicated lines break seq; a line cut short has no newline; and, with
// the keys, an entry re-hashed (with those after it) fails its MAC. It is
// stricter than the recipe about keys: a MAC of a key not in the key file
// is counted as not verifiable while no entry before it was authenticated
// (entries signed with a retired key), and is a problem after one; and if
// no entry at all is authenticated by the keys given, that is a problem
// too (the MACs may have been removed).
//
// # Keys: the first one, rotation, a leak
//
// A ledger written before it had a key keeps its entries without a MAC:
// Verify reports them as not authenticated (only the chain and the
// checkpoints vouch for them), never as plainly intact. When a Ledger
// opens with a key whose ID the last entry does not carry (the first key,
// or a new one), it first appends a ledger-key entry (TypeLedgerKey)
// signed with it: the ledger records from which entry on the new key
// vouches for it, and a verifier with the key always finds an
// authenticated last entry unless MACs were removed. After an entry with a
// MAC, an entry without one is always a problem.
//
// To rotate: put a new line on top of the key file (a new ID and secret),
// keep the old lines, restart the writers (they read the file when they
// start). Entries signed with the old key keep verifying with it; verified
// with only the new key, they are reported as not verifiable, by key ID.
// If a key leaked, rotate the same way and keep the old key only where you
// verify: entries it signed after the leak prove nothing, but every
// checkpoint published before the leak still pins the chain up to it, and
// entries signed with the new key vouch for everything before them as it
// was when they were written (compare the ledger with a copy or the
// checkpoints to find a rewrite made with the leaked key in between).
//
// # Checkpoints
//
// A MAC cannot show entries cut off the end of the ledger, nor a rewrite
// by someone holding the key. Checkpoints can: the seq and hash of the
// last entry, published where the ledger's writer cannot silently change
// them (CheckpointSink), every few seconds when the ledger grew
// (Options.CheckpointInterval, default 5 s) and when it closes. Verify
// compares them (CheckpointSource): the entry at a checkpoint's seq must
// have its hash (else ProblemCheckpoint: rewritten at or before that
// entry), and the ledger must reach the checkpoint's seq (else ProblemTail:
// entries cut off its end). A source that cannot be read is reported as
// not checked. Two sinks exist:
//
//   - the ConfigMap infraplane-ledger-checkpoint in the controller's
//     namespace (infraplane-system for `infraplane up`; package
//     kubecheckpoint), holding the latest checkpoint and moved only forward
//     (read, compare, update with the read resourceVersion): every replica
//     publishes the head it knows, and the highest stays. Its writes are in
//     the API server's audit log, and the ledger's storage gives no power
//     over it.
//   - for a database ledger, the table infraplane_ledger_checkpoint
//     (PGCheckpoints; Options.CheckpointDatabase, by default the ledger's
//     own database), one row per checkpoint, only inserted, written on a
//     connection of its own, so that it can use a role of its own (see "In
//     PostgreSQL").
//
// # Writing
//
// (A ledger file; a database ledger is below.) Open (OpenWith, with keys
// and checkpoint sinks) takes an exclusive lock (flock, on Unix) on the
// file: one appender per ledger. Entries are
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
// Signing costs one HMAC-SHA256 of 89 bytes per entry, ≈ 2 µs of CPU:
// BenchmarkEncodeLine 4–8 µs per line without a key, 6–10 µs with.
// Against an fsync it does not show: measured with and without a key in
// turn (BenchmarkAppend/mac=false and mac=true; a 2 vCPU VM, Go 1.26,
// while other builds and tests ran: load average 5–10, fsync 0.7–2 ms), one
// appender at a time 460–1,460 appends/s without a key and 490–2,190 with;
// 8 concurrent appenders 1,900–8,700 and 2,000–7,100 (seven runs each);
// the differences are smaller than the run-to-run spread. Verify with the
// keys: 25,000–42,000 entries/s, without 20,000–52,000 (BenchmarkVerify,
// 20,000 entries). Reproduce with `go test ./internal/ledger -run '^$'
// -bench '^Benchmark(Append|AppendParallel|Verify|EncodeLine)$'`.
//
// On Open only the last line is read (Open is instant whatever the size):
// its seq and hash continue the chain. If that line is incomplete — a crash
// in the middle of a write — or does not match its hash (or its MAC, when
// the key it names is given), Open refuses with an error wrapping
// ErrCorrupt. The ledger is never rewritten, repaired or
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
// (or, when its key is given, its MAC) makes Open, and every Append, fail
// with ErrCorrupt. A lost connection
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
// in a file, rows rewritten from some entry on with new hashes fail that
// entry's MAC, and rows deleted from the end show against the checkpoints.
//
// Checkpoints go to the table infraplane_ledger_checkpoint of the ledger's
// database, or of Options.CheckpointDatabase (the controller's
// --ledger-checkpoint-database), created if missing:
//
//	CREATE TABLE infraplane_ledger_checkpoint (
//		seq  bigint PRIMARY KEY CHECK (seq > 0),
//		hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
//		time timestamptz NOT NULL
//	);
//
// A row is inserted when the head moved (INSERT … ON CONFLICT DO NOTHING:
// replicas that publish the same head add one row; another hash for a seq
// already there is reported as ErrCheckpointMismatch and logged), never
// updated or deleted. Roles: the ledger's role needs SELECT and INSERT on
// the ledger's table only, the checkpoint role SELECT and INSERT on the
// checkpoint table only (and both USAGE on the schema). Create the tables
// as their owner (a first run as the owner does), then:
//
//	CREATE ROLE infraplane_ledger LOGIN PASSWORD '…';
//	CREATE ROLE infraplane_checkpoint LOGIN PASSWORD '…';
//	GRANT SELECT, INSERT ON infraplane_ledger TO infraplane_ledger;
//	GRANT SELECT, INSERT ON infraplane_ledger_checkpoint TO infraplane_checkpoint;
//
// and give the controller --ledger postgres://infraplane_ledger@…/DB and
// --ledger-checkpoint-database postgres://infraplane_checkpoint@…/DB.
// Whoever holds the ledger role's credentials can then neither rewrite the
// ledger nor touch the checkpoints. A superuser or the tables' owner can
// rewrite both: the MACs (the key is not in the database) and the
// ConfigMap (nor is it) still show that. Without a separate role, the
// ledger's own role publishes there, and needs SELECT and INSERT on both
// tables.
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
// # Cloud writes: intent first
//
// No controller write reaches the cloud unrecorded. Before each create,
// update or delete, the controller appends a cloud-write-intent entry
// (Ledger.Intend: "sending create projects/p/topics/orders"); if that
// fails — the disk is full, the database is gone — the write is not
// sent: the object says so (Synced=False, reason LedgerUnavailable),
// infraplane_cloud_writes_held_total{kind,operation} counts it, and it is
// tried again every 10 s, so writes resume soon after the ledger can be
// written. After the write, its outcome is a cloud-write entry whose
// Details["intent"] is the intent's seq. An outcome that cannot be
// appended (the disk filled up in between) is kept in memory and appended
// as soon as the ledger takes entries again (Details["recordedLate"] and
// ["at"], the time of the write). Verify lists the intents that have no
// outcome (Report.Unfinished; "OUTCOME NOT RECORDED" in the report): a
// writer that stopped in between, or is sending it right now — check
// those resources in the cloud. Measured (internal/install, a 4 MiB tmpfs
// filled): the topic whose intent did not fit was not created, and was,
// 10 s after the disk had room; the one whose intent fitted but whose
// outcome did not got its outcome recorded late.
//
// # Metrics
//
// In controller-runtime's registry: infraplane_ledger_entries_total{type}
// and infraplane_ledger_append_errors_total. Ledger.CloudWrite (the
// outcome) never fails a reconcile: it logs an append error with slog and
// counts it; Ledger.Intend's error holds the write.
package ledger
