// Package statusrpc serves the original Bluenet's local status endpoint: an
// XML-RPC server (by default on 127.0.0.1:6459, path /RPC2) with one method,
// is_bluenet_connected, answering whether a setup app is connected right now.
// Tools written for the original daemon poll it.
package statusrpc

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// DefaultAddr is where the original daemon listened.
const DefaultAddr = "127.0.0.1:6459"

// Server is the XML-RPC status endpoint.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen starts serving on addr (host:port). connected is called for every
// is_bluenet_connected request and must be safe for concurrent use.
func Listen(addr string, connected func() bool) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("statusrpc: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/RPC2", Handler(connected))
	s := &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server, waiting up to ctx for requests in flight.
func (s *Server) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }

type methodCall struct {
	XMLName xml.Name `xml:"methodCall"`
	Method  string   `xml:"methodName"`
}

// Handler answers XML-RPC POSTs: is_bluenet_connected returns a boolean,
// system.listMethods the list of methods, anything else a fault.
func Handler(connected func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "XML-RPC wants POST", http.StatusMethodNotAllowed)
			return
		}
		var call methodCall
		if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&call); err != nil {
			writeFault(w, -32700, "parse error")
			return
		}
		switch call.Method {
		case "is_bluenet_connected":
			v := 0
			if connected() {
				v = 1
			}
			writeResponse(w, fmt.Sprintf("<boolean>%d</boolean>", v))
		case "system.listMethods":
			writeResponse(w, "<array><data><value><string>is_bluenet_connected</string></value>"+
				"<value><string>system.listMethods</string></value></data></array>")
		default:
			var name strings.Builder
			_ = xml.EscapeText(&name, []byte(call.Method))
			writeFault(w, -32601, "method not found: "+name.String())
		}
	})
}

func writeResponse(w http.ResponseWriter, value string) {
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, xml.Header+"<methodResponse><params><param><value>"+value+
		"</value></param></params></methodResponse>\n")
}

func writeFault(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	_, _ = fmt.Fprintf(w, "%s<methodResponse><fault><value><struct>"+
		"<member><name>faultCode</name><value><int>%d</int></value></member>"+
		"<member><name>faultString</name><value><string>%s</string></value></member>"+
		"</struct></value></fault></methodResponse>\n", xml.Header, code, msg)
}
