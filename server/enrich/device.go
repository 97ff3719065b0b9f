package enrich

// Device classes, the values of the device dimension.
const (
	Mobile  = "mobile"
	Tablet  = "tablet"
	Desktop = "desktop"
)

// deviceTokens are the case-sensitive User-Agent tokens Device looks for.
var deviceTokens = []string{
	// tablets
	"iPad", "Tablet", "Kindle", "Silk/", "PlayBook",
	// phones; "Mobi" covers "Mobile", "Mobi/" and "IEMobile", as Mozilla advises
	"Mobi", "iPhone", "iPod", "Opera Mini", "BlackBerry", "Windows Phone",
	// Android phones say "Mobile"; Android tablets do not
	"Android",
	// an old Windows desktop token, listed so that it is not taken for "Tablet"
	"Tablet PC",
}

const (
	firstPhoneToken   = 5
	androidToken      = 11
	tabletPCToken     = 12
	deviceTokensCount = 13
)

var deviceMatcher = newTokenMatcher(false, deviceTokens...)

// Device classifies the client as "mobile", "tablet" or "desktop" from its User-Agent and
// its Sec-CH-UA-Mobile client hint ("?1" means mobile; Chromium sends "?0" on tablets and
// desktops, so "?0" is left to the User-Agent). iPadOS Safari and "request desktop site"
// modes send a desktop User-Agent and are counted as desktop: the server cannot tell.
func (e *Enricher) Device(userAgent, secCHUAMobile string) string {
	if secCHUAMobile == "?1" {
		return Mobile
	}
	phone, android := false, false
	for from := 0; ; {
		pos, tok := deviceMatcher.next(userAgent, from)
		switch {
		case pos < 0:
			switch {
			case phone:
				return Mobile
			case android:
				return Tablet
			}
			return Desktop
		case tok < firstPhoneToken:
			return Tablet
		case tok == androidToken:
			android = true
		case tok < androidToken:
			phone = true
		}
		from = pos + 1
	}
}
