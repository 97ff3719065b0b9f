package main

import (
	"log/slog"
	"net"
	"strconv"
)

// logStartURLs tells a person where to look once rumd listens on addr: the home page, the
// test page and the snippet. An address bound to every interface is shown as localhost; with
// ACME, the first host a certificate is got for.
func logStartURLs(logger *slog.Logger, addr net.Addr, tls bool, acmeHosts []string) {
	base := baseURL(addr, tls)
	if len(acmeHosts) > 0 {
		base = "https://" + acmeHosts[0]
		if tcp, ok := addr.(*net.TCPAddr); ok && tcp.Port != 443 {
			base = "https://" + net.JoinHostPort(acmeHosts[0], strconv.Itoa(tcp.Port))
		}
	}
	logger.Info("open the home page at "+base+"/", "home", base+"/", "test_page", base+"/test", "snippet", base+"/rumd.js")
}

func baseURL(addr net.Addr, tls bool) string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return scheme + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
