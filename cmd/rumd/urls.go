package main

import (
	"log/slog"
	"net"
	"strconv"
)

// logStartURLs tells a person where to look once rumd listens on addr: the home page, the
// test page and the snippet. An address bound to every interface is shown as localhost.
func logStartURLs(logger *slog.Logger, addr net.Addr) {
	base := baseURL(addr)
	logger.Info("open the home page at "+base+"/", "home", base+"/", "test_page", base+"/test", "snippet", base+"/rumd.js")
}

func baseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
