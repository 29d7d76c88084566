package ledger

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/infraplane/infraplane/internal/pgtest"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// The rewrites of TestVerifyMACRewrites, on a database ledger, by a
// superuser: the first row whose MAC does not match is named.
func TestPGVerifyMACRewrites(t *testing.T) {
	dsn := pgtest.Database(t)
	keys := testKeys(t, "k1")
	const n = 6
	for i, tc := range []struct {
		name   string
		tamper func(t *testing.T, admin string, es []Entry)
		row    int
		kind   ProblemKind
	}{{
		name: "DELETE a row, renumber and re-hash the rows after it",
		tamper: func(t *testing.T, admin string, es []Entry) {
			lines := forge(t, slices.Delete(slices.Clone(es), 2, 3), 2, keepMAC)
			sql(t, admin, `DELETE FROM `+TableName+` WHERE seq >= 3`)
			for _, line := range lines[2:] {
				e, _ := decodeLine([]byte(line))
				sql(t, admin, `INSERT INTO `+TableName+` (seq, time, line) VALUES ($1, $2, $3)`, int64(e.Seq), e.Time, line)
			}
		},
		row: 3, kind: ProblemMAC,
	}, {
		name: "UPDATE a row and re-hash it and the rows after it",
		tamper: func(t *testing.T, admin string, es []Entry) {
			es = slices.Clone(es)
			es[3].Actor = "mallory"
			for _, line := range forge(t, es, 3, keepMAC)[3:] {
				e, _ := decodeLine([]byte(line))
				sql(t, admin, `UPDATE `+TableName+` SET line = $1 WHERE seq = $2`, line, int64(e.Seq))
			}
		},
		row: 4, kind: ProblemMAC,
	}, {
		name: "UPDATE a row to a MAC of a made-up key",
		tamper: func(t *testing.T, admin string, es []Entry) {
			es = slices.Clone(es)
			es[4].Summary = "nothing happened"
			for _, line := range forge(t, es, 4, fakeKeyMAC)[4:] {
				e, _ := decodeLine([]byte(line))
				sql(t, admin, `UPDATE `+TableName+` SET line = $1 WHERE seq = $2`, line, int64(e.Seq))
			}
		},
		row: 5, kind: ProblemUnknownKey,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			schema := "mac" + strconv.Itoa(i)
			loc := inSchema(t, dsn, schema)
			l, err := OpenWith(context.Background(), loc, Options{Keys: keys, CheckpointDatabase: "-"})
			if err != nil {
				t.Fatal(err)
			}
			es := appendN(t, l, 1, n)
			l.Close()
			tc.tamper(t, superuser(t, dsn)+"&search_path="+schema, es)
			if rep := mustVerifyLoc(t, loc); !rep.OK() {
				t.Fatalf("the forger's chain: %s", rep)
			}
			rep := verifyWith(t, loc, VerifyOptions{Keys: keys})
			if p := rep.Problem; p == nil || p.Line != tc.row || p.Seq != uint64(tc.row) || p.Kind != tc.kind ||
				!strings.HasPrefix(rep.String(), "ledger BROKEN at row ") {
				t.Fatalf("got %s, want row %d %s", rep, tc.row, tc.kind)
			}
		})
	}
}
