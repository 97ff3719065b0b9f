package enrich_test

import (
	"strings"
	"testing"

	"rumd/ingest/enrich"
)

// Real User-Agent strings, as sent by the browsers and crawlers named.
const (
	uaIPhoneSafari   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaIPhoneChrome   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1"
	uaIPad           = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
	uaIPadOSDesktop  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	uaAndroidPhone   = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
	uaAndroidPixel   = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.165 Mobile Safari/537.36"
	uaAndroidTablet  = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaSamsungPhone   = "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36"
	uaFirefoxAndroid = "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0"
	uaFirefoxTablet  = "Mozilla/5.0 (Android 14; Tablet; rv:127.0) Gecko/127.0 Firefox/127.0"
	uaKindleFire     = "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/126.4.1 like Chrome/126.0.6478.71 Safari/537.36"
	uaCubotPhone     = "Mozilla/5.0 (Linux; Android 11; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36"
	uaChromeWindows  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaChromeLinux    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaFirefoxMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0"
	uaFirefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0"
	uaEdge           = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.56"
	uaIETabletPC     = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; SLCC2; .NET CLR 2.0.50727; Media Center PC 6.0; Tablet PC 2.0)"
	uaOperaMini      = "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54"
	uaFacebookInApp  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.38.108;FBBV/613617786;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]"

	uaGooglebot          = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	uaGooglebotSmart     = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	uaBingbot            = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
	uaHeadlessChrome     = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.6478.126 Safari/537.36"
	uaLighthouse         = "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse"
	uaCurl               = "curl/8.5.0"
	uaWget               = "Wget/1.21.4"
	uaPythonRequests     = "python-requests/2.32.3"
	uaGoHTTP             = "Go-http-client/1.1"
	uaPhantomJS          = "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1"
	uaYandex             = "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"
	uaBaidu              = "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
	uaFacebookCrawler    = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
	uaApplebot           = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"
	uaGPTBot             = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
	uaWebPageTest        = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 PTST/240620.160727"
	uaPingdom            = "Mozilla/5.0 (compatible; Pingdom.com_bot_version_1.4_(http://www.pingdom.com/))"
	uaDatadogSynthetics  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 DatadogSynthetics"
	uaGoogleInspection   = "Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)"
	uaPostman            = "PostmanRuntime/7.39.0"
	uaScrapy             = "Scrapy/2.11.2 (+https://scrapy.org)"
	uaAhrefs             = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
	uaNodeFetch          = "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"
	uaOkHTTP             = "okhttp/4.12.0"
	uaJava               = "Java/17.0.11"
	uaSlackLinkExpanding = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
)

func TestDevice(t *testing.T) {
	e := mustEnricher(t, enrich.DefaultOptions())
	for _, tc := range []struct {
		name, ua, chMobile, want string
	}{
		{"iPhone Safari", uaIPhoneSafari, "", "mobile"},
		{"iPhone Chrome", uaIPhoneChrome, "", "mobile"},
		{"Facebook in-app on iPhone", uaFacebookInApp, "", "mobile"},
		{"Android Chrome phone", uaAndroidPhone, "?1", "mobile"},
		{"Android Chrome phone without hint", uaAndroidPhone, "", "mobile"},
		{"Pixel Chrome", uaAndroidPixel, "?1", "mobile"},
		{"Samsung Internet phone", uaSamsungPhone, "", "mobile"},
		{"Cubot phone", uaCubotPhone, "?1", "mobile"},
		{"Firefox Android phone", uaFirefoxAndroid, "", "mobile"},
		{"Opera Mini", uaOperaMini, "", "mobile"},
		{"Android Chrome tablet", uaAndroidTablet, "?0", "tablet"},
		{"Android Chrome tablet without hint", uaAndroidTablet, "", "tablet"},
		{"Firefox Android tablet", uaFirefoxTablet, "", "tablet"},
		{"Kindle Fire Silk", uaKindleFire, "?0", "tablet"},
		{"iPad Safari", uaIPad, "", "tablet"},
		{"iPadOS desktop-class Safari", uaIPadOSDesktop, "", "desktop"},
		{"Chrome Windows", uaChromeWindows, "?0", "desktop"},
		{"Chrome Linux", uaChromeLinux, "?0", "desktop"},
		{"Firefox Mac", uaFirefoxMac, "", "desktop"},
		{"Firefox Windows", uaFirefoxWindows, "", "desktop"},
		{"Edge", uaEdge, "?0", "desktop"},
		{"old IE on a Tablet PC capable desktop", uaIETabletPC, "", "desktop"},
		{"hint wins over desktop UA", uaChromeWindows, "?1", "mobile"},
		{"empty", "", "", "desktop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.Device(tc.ua, tc.chMobile); got != tc.want {
				t.Fatalf("Device(%q, %q) = %q, want %q", tc.ua, tc.chMobile, got, tc.want)
			}
			// Agent gives the same class, from the User-Agent cache the second time.
			for try := range 2 {
				if got, _ := e.Agent(tc.ua, tc.chMobile); got != tc.want {
					t.Fatalf("call %d: Agent(%q, %q) device = %q, want %q", try+1, tc.ua, tc.chMobile, got, tc.want)
				}
			}
		})
	}
}

func TestIsBot(t *testing.T) {
	e := mustEnricher(t, enrich.DefaultOptions())
	for _, tc := range []struct {
		name string
		ua   string
		want bool
	}{
		{"iPhone Safari", uaIPhoneSafari, false},
		{"iPhone Chrome", uaIPhoneChrome, false},
		{"iPad", uaIPad, false},
		{"Android phone", uaAndroidPhone, false},
		{"Android tablet", uaAndroidTablet, false},
		{"Samsung Internet", uaSamsungPhone, false},
		{"Kindle Fire", uaKindleFire, false},
		{"Cubot phone", uaCubotPhone, false},
		{"Facebook in-app browser", uaFacebookInApp, false},
		{"Chrome Windows", uaChromeWindows, false},
		{"Chrome Linux", uaChromeLinux, false},
		{"Firefox Mac", uaFirefoxMac, false},
		{"Firefox Windows", uaFirefoxWindows, false},
		{"Edge", uaEdge, false},
		{"Opera Mini", uaOperaMini, false},
		{"Googlebot", uaGooglebot, true},
		{"Googlebot smartphone", uaGooglebotSmart, true},
		{"bingbot", uaBingbot, true},
		{"HeadlessChrome", uaHeadlessChrome, true},
		{"Lighthouse", uaLighthouse, true},
		{"curl", uaCurl, true},
		{"wget", uaWget, true},
		{"python-requests", uaPythonRequests, true},
		{"Go http client", uaGoHTTP, true},
		{"PhantomJS", uaPhantomJS, true},
		{"YandexBot", uaYandex, true},
		{"Baiduspider", uaBaidu, true},
		{"facebookexternalhit", uaFacebookCrawler, true},
		{"Applebot", uaApplebot, true},
		{"GPTBot", uaGPTBot, true},
		{"WebPageTest", uaWebPageTest, true},
		{"Pingdom", uaPingdom, true},
		{"Datadog synthetics", uaDatadogSynthetics, true},
		{"Google-InspectionTool", uaGoogleInspection, true},
		{"Postman", uaPostman, true},
		{"Scrapy", uaScrapy, true},
		{"AhrefsBot", uaAhrefs, true},
		{"node-fetch", uaNodeFetch, true},
		{"okhttp", uaOkHTTP, true},
		{"Java", uaJava, true},
		{"Slack link expander", uaSlackLinkExpanding, true},
		{"empty", "", true},
		{"upper case token", "SOMETHING CRAWLER 1.0", true},
		{"token at the very end", "Mozilla/5.0 x-bot", true},
		{"token after a long User-Agent", uaChromeWindows + strings.Repeat(" x", 600) + " Googlebot", true},
		{"long browser User-Agent", uaChromeWindows + strings.Repeat(" ext/1.0", 200), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := enrich.IsBot(tc.ua); got != tc.want {
				t.Fatalf("IsBot(%q) = %v, want %v", tc.ua, got, tc.want)
			}
			// Agent says the same, from the User-Agent cache the second time, whatever the
			// mobile hint.
			for try, hint := range []string{"", "?1", "?0"} {
				if _, got := e.Agent(tc.ua, hint); got != tc.want {
					t.Fatalf("call %d: Agent(%q, %q) bot = %v, want %v", try+1, tc.ua, hint, got, tc.want)
				}
			}
		})
	}
}
