package enrich

// Device classes, the values of the device dimension.
const (
	Mobile  = "mobile"
	Tablet  = "tablet"
	Desktop = "desktop"
)

type uaHint uint8

const (
	hintNone    uaHint = iota // matched only so that a longer token wins over a shorter one
	hintTablet                // decides on its own
	hintPhone                 // mobile unless a tablet token is also present
	hintAndroid               // tablet unless a phone token is also present
)

// deviceTokens are the case-sensitive User-Agent tokens Device looks for.
var deviceTokens = []struct {
	token string
	hint  uaHint
}{
	{"iPad", hintTablet},
	{"Tablet", hintTablet},  // Firefox on Android tablets
	{"Tablet PC", hintNone}, // an old Windows desktop token, not a tablet
	{"Kindle", hintTablet},
	{"Silk/", hintTablet},
	{"PlayBook", hintTablet},
	{"Mobi", hintPhone}, // "Mobile", "Mobi/", "IEMobile", as Mozilla advises
	{"iPhone", hintPhone},
	{"iPod", hintPhone},
	{"Opera Mini", hintPhone},
	{"BlackBerry", hintPhone},
	{"Windows Phone", hintPhone},
	{"Android", hintAndroid}, // Android phones say "Mobile"; Android tablets do not
}

var deviceMatcher = func() *tokenMatcher {
	tokens := make([]string, len(deviceTokens))
	for i, t := range deviceTokens {
		tokens[i] = t.token
	}
	return newTokenMatcher(false, tokens...)
}()

// Device classifies the client as "mobile", "tablet" or "desktop" from its User-Agent and
// its Sec-CH-UA-Mobile client hint ("?1" means mobile; Chromium sends "?0" on tablets and
// desktops, so "?0" is left to the User-Agent). iPadOS Safari and "request desktop site"
// modes send a desktop User-Agent and are counted as desktop: the server cannot tell.
// Device scans the User-Agent on every call; Agent answers from a cache.
func (e *Enricher) Device(userAgent, secCHUAMobile string) string {
	if secCHUAMobile == "?1" {
		return Mobile
	}
	return deviceClasses[uaDevice(userAgent)]
}

// deviceClasses are the device classes by the index uaDevice returns.
var deviceClasses = [...]string{Mobile, Tablet, Desktop}

// uaDevice returns the index in deviceClasses of the device class the User-Agent alone says.
func uaDevice(userAgent string) uint8 {
	phone, android := false, false
	for from := 0; ; {
		pos, tok := deviceMatcher.next(userAgent, from)
		if pos < 0 {
			break
		}
		switch deviceTokens[tok].hint {
		case hintTablet:
			return 1
		case hintPhone:
			phone = true
		case hintAndroid:
			android = true
		}
		from = pos + 1
	}
	switch {
	case phone:
		return 0
	case android:
		return 1
	}
	return 2
}
