package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// scramIterations is PostgreSQL's default (scram_iterations).
const scramIterations = 4096

// scramVerifier computes, here, the SCRAM-SHA-256 verifier PostgreSQL
// stores for password (RFC 5802/5803, PostgreSQL's pg_authid format
// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"). infraplane
// sends only the verifier in CREATE/ALTER ROLE … PASSWORD: the server
// recognises the format and stores it as is, so the password itself never
// appears in statement text (which a server may log: log_statement = ddl).
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifierWith(password, salt, scramIterations)
}

func scramVerifierWith(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, saslPrep(password), salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iterations) + ":" + b64(salt) + "$" + b64(storedKey[:]) + ":" + b64(serverKey), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// saslPrep prepares a password the way PostgreSQL does before deriving
// its verifier (SASLprep, RFC 4013; PostgreSQL uses the raw password when
// SASLprep refuses it). ASCII passwords (what infraplane generates) are
// used as they are, as PostgreSQL does: printable ASCII is unchanged by
// SASLprep, and ASCII control characters make it refuse. Other passwords
// have non-ASCII spaces mapped to a space, the "mapped to nothing"
// characters removed and NFKC applied; one that then holds a control,
// private-use, unassigned or right-to-left character is used raw. (That
// last rule approximates SASLprep's prohibited, unassigned and bidi
// tables, which follow Unicode 3.2: for such rare passwords PostgreSQL's
// own rule may differ. Prefer ASCII passwords.)
func saslPrep(password string) string {
	ascii := true
	for i := 0; i < len(password); i++ {
		if password[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii || !utf8.ValidString(password) {
		return password
	}
	mapped := make([]rune, 0, len(password))
	for _, r := range password {
		switch {
		case mapsToNothing(r):
		case r != ' ' && unicode.Is(unicode.Zs, r): // RFC 4013 2.1: non-ASCII space
			mapped = append(mapped, ' ')
		default:
			mapped = append(mapped, r)
		}
	}
	prepared := norm.NFKC.String(string(mapped))
	for _, r := range prepared {
		switch {
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp),
			!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs),
			unicode.In(r, unicode.Hebrew, unicode.Arabic, unicode.Syriac, unicode.Thaana, unicode.Nko):
			return password
		}
	}
	if prepared == "" {
		return password
	}
	return prepared
}

// mapsToNothing is RFC 3454 table B.1.
func mapsToNothing(r rune) bool {
	switch r {
	case 0x00AD, 0x034F, 0x1806, 0x180B, 0x180C, 0x180D, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF:
		return true
	}
	return r >= 0xFE00 && r <= 0xFE0F
}
