package statusrpc

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
)

// FuzzHandler answers any body posted to the endpoint: the answer is always
// a well-formed XML-RPC methodResponse, a boolean for is_bluenet_connected,
// a fault for anything that is not a known call.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0"?><methodCall><methodName>is_bluenet_connected</methodName><params></params></methodCall>`,
		`<methodCall><methodName>system.listMethods</methodName></methodCall>`,
		`<methodCall><methodName>nope&amp;&lt;x&gt;</methodName></methodCall>`,
		`<methodCall><methodName>` + "\x01\xff" + `</methodName></methodCall>`,
		`<methodCall>`, ``, `<?xml version="1.0" encoding="latin1"?><methodCall/>`,
		`<!DOCTYPE x [<!ENTITY a "aaaa">]><methodCall><methodName>&a;</methodName></methodCall>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		out := answer(strings.NewReader(body), func() bool { return true })
		var resp struct {
			XMLName xml.Name `xml:"methodResponse"`
			Params  *struct {
				Value struct {
					Boolean *string   `xml:"boolean"`
					Array   *struct{} `xml:"array"`
				} `xml:"param>value"`
			} `xml:"params"`
			Fault *struct {
				Members []struct {
					Name string `xml:"name"`
					Int  string `xml:"value>int"`
					Str  string `xml:"value>string"`
				} `xml:"value>struct>member"`
			} `xml:"fault"`
		}
		d := xml.NewDecoder(strings.NewReader(out))
		if err := d.Decode(&resp); err != nil {
			t.Fatalf("answer is not XML: %v\n%s", err, out)
		}
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("trailing garbage: %v\n%s", err, out)
			}
		}
		if (resp.Params == nil) == (resp.Fault == nil) {
			t.Fatalf("want exactly one of params and fault:\n%s", out)
		}
		if resp.Params != nil && resp.Params.Value.Boolean != nil && *resp.Params.Value.Boolean != "1" {
			t.Fatalf("boolean %q, want 1", *resp.Params.Value.Boolean)
		}
		if resp.Fault != nil && len(resp.Fault.Members) != 2 {
			t.Fatalf("fault with %d members:\n%s", len(resp.Fault.Members), out)
		}
	})
}

// FuzzRequest feeds any bytes to the endpoint's HTTP framing, as a local
// process may send them: the answer is nothing (the request line never
// ended) or one whole HTTP/1.1 response whose Content-Length is its body's.
func FuzzRequest(f *testing.F) {
	call := `<methodCall><methodName>is_bluenet_connected</methodName></methodCall>`
	for _, s := range []string{
		"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(call)) + "\r\n\r\n" + call,
		"POST /RPC2 HTTP/1.0\r\nContent-Length: 5\r\n\r\n<a/>",
		"POST /RPC2 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST /RPC2 HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"POST /RPC2 HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"GET /RPC2 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", "POST /RPC2?x HTTP/1.1\r\n\r\n",
		"POST  HTTP/1.1\r\n\r\n", "\r\n", "", "POST /RPC2 HTTP/1.1\r\nbad header\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		s := &Server{connected: func() bool { return false }}
		var out bytes.Buffer
		s.answerHTTP(bytes.NewReader(req), &out)
		resp := out.String()
		if resp == "" {
			return
		}
		// A 100 Continue may come first.
		resp = strings.TrimPrefix(resp, "HTTP/1.1 100 Continue\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 ") {
			t.Fatalf("answer %q", resp)
		}
		head, body, ok := strings.Cut(resp, "\r\n\r\n")
		if !ok {
			t.Fatalf("answer without an end of header: %q", resp)
		}
		var n = -1
		for _, l := range strings.Split(head, "\r\n") {
			if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
				n, _ = strconv.Atoi(v)
			}
		}
		if n != len(body) {
			t.Fatalf("Content-Length %d for a body of %d bytes: %q", n, len(body), resp)
		}
	})
}
