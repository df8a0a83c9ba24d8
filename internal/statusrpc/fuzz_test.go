package statusrpc

import (
	"encoding/xml"
	"io"
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
