package bluenet

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzState: any Connection State value either fails as ErrMalformed or
// decodes to a state whose encoding decodes to the same state; the encoding
// of a valid value is the value itself, without the bytes ignored after
// Down or Disconnected. String is valid UTF-8.
func FuzzState(f *testing.F) {
	for _, s := range []string{"", "\x00", "\x01stale", "\x02HomeNet", "\x03HomeNet", "\x03", "\x04",
		"\x03\xff\x00\x80", "\x03" + string(bytes.Repeat([]byte("x"), 33))} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseState(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseState error %v is not ErrMalformed", err)
			}
			return
		}
		enc := s.Encode()
		want := b
		if s.Kind == Down || s.Kind == Disconnected {
			want = b[:1]
		}
		if !bytes.Equal(enc, want) {
			t.Fatalf("Encode(ParseState(%x)) = %x", b, enc)
		}
		again, err := ParseState(enc)
		if err != nil || again.Kind != s.Kind || !bytes.Equal(again.SSID, s.SSID) || !again.Is(s.Kind, s.SSID) {
			t.Fatalf("round trip %v -> %v, %v", s, again, err)
		}
		if !utf8.ValidString(s.String()) {
			t.Fatalf("String() is not UTF-8: %q", s.String())
		}
		if len(b) > 1 && s.SSID != nil && &s.SSID[0] == &b[1] {
			t.Fatal("ParseState aliases its input")
		}
	})
}

// FuzzResult: any Result value decodes unless empty, keeps unknown codes,
// and an encoded code decodes to itself with its own text.
func FuzzResult(f *testing.F) {
	for _, s := range []string{"", "\x00connected", "\x01", "\xfejoining", "\x42future code", "\x07\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResult(b)
		if len(b) == 0 {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("empty Result: %v", err)
			}
			return
		}
		if err != nil || byte(r.Code) != b[0] || r.Text != string(b[1:]) {
			t.Fatalf("ParseResult(%x) = %+v, %v", b, r, err)
		}
		if r.String() == "" {
			t.Fatalf("Result %x has an empty String", b)
		}
		enc := EncodeResult(r.Code)
		back, err := ParseResult(enc)
		if err != nil || back.Code != r.Code || back.Text != r.Code.String() || !utf8.ValidString(back.Text) {
			t.Fatalf("EncodeResult(%#x) = %x -> %+v, %v", r.Code, enc, back, err)
		}
		if r.Code.Final() == (r.Code == ResultInProgress || r.Code == ResultNone) {
			t.Fatalf("Final(%#x) = %v", r.Code, r.Code.Final())
		}
	})
}

// FuzzQuoteSSID: any SSID quotes to valid UTF-8 that names it exactly
// (distinct SSIDs quote differently).
func FuzzQuoteSSID(f *testing.F) {
	for _, s := range []string{"", "HomeNet", "caf\xc3\xa9", "\xff\x00", "a\"b", "\n"} {
		f.Add([]byte(s), []byte("HomeNet"))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		qa, qb := QuoteSSID(a), QuoteSSID(b)
		if !utf8.ValidString(qa) {
			t.Fatalf("QuoteSSID(%x) = %q is not UTF-8", a, qa)
		}
		if (qa == qb) != bytes.Equal(a, b) {
			t.Fatalf("QuoteSSID(%x) = %s, QuoteSSID(%x) = %s", a, qa, b, qb)
		}
	})
}
