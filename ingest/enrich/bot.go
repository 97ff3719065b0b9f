package enrich

// botTokens are lower-case substrings of the User-Agents of crawlers, link previewers,
// synthetic monitors, headless or automated browsers and HTTP libraries. None of them
// appears in the User-Agent of a browser a person uses.
var botTokens = []string{
	"bot", // googlebot, bingbot, applebot, gptbot, adsbot-google, ... (but see "cubot")
	"crawl", "spider", "slurp", "scrap", "archiver", "bingpreview", "uripreview", "fetcher",
	"chatgpt-user", "headless", "phantomjs", "lighthouse", "puppeteer", "playwright", "selenium",
	"webdriver", "cypress",
	"curl/", "wget/", "python", "go-http-client", "java/", "okhttp", "libwww", "httpclient",
	"http-client", "axios/", "node-fetch", "undici", "aiohttp", "httpx", "guzzlehttp",
	"postmanruntime", "insomnia", "httpie/", "deno/", "bun/",
	"facebookexternalhit", "meta-externalagent", "whatsapp/", "google-inspectiontool",
	"googleother", "google-read-aloud", "mediapartners-google", "feedfetcher",
	"ptst/", "gtmetrix", "pingdom", "statuscake", "uptime", "datadog", "newrelicpinger",
	"catchpoint", "synthetic", "monitor", "checker", "validator",
}

var botMatcher = newTokenMatcher(true, botTokens...)

// IsBot reports whether userAgent belongs to a crawler, bot, spider, monitor, headless or
// automated browser, or HTTP library rather than to a person's browser. An empty User-Agent
// is a bot: every browser sends one. The scan is one case-insensitive pass over the
// User-Agent, with no regular expression and no allocation.
func IsBot(userAgent string) bool {
	if userAgent == "" {
		return true
	}
	for from := 0; ; {
		pos, tok := botMatcher.next(userAgent, from)
		if pos < 0 {
			return false
		}
		// "bot" inside "cubot" is a brand of Android phones.
		if botTokens[tok] == "bot" && pos >= 2 && lower(userAgent[pos-2]) == 'c' && lower(userAgent[pos-1]) == 'u' {
			from = pos + 1
			continue
		}
		return true
	}
}
