package enrich

// agentAnswer is what a User-Agent alone says about the client: the index of its device
// class in deviceClasses, and agentBot when it is a bot.
type agentAnswer uint8

const agentBot agentAnswer = 1 << 2

// User-Agent cache bounds: 4,096 User-Agents of at most 512 bytes, so at most about 2.5 MiB
// whatever the traffic (browsers send 100 to 300 bytes; longer ones are worked out afresh).
const (
	agentCacheSets = 1024
	maxAgentKey    = 512
)

func classifyAgent(userAgent string) agentAnswer {
	a := agentAnswer(uaDevice(userAgent))
	if IsBot(userAgent) {
		a |= agentBot
	}
	return a
}

// Agent returns what Device and IsBot return for the same arguments, in one lookup: both
// scans of the User-Agent are cached by the User-Agent string, and the Sec-CH-UA-Mobile
// hint ("?1" is mobile whatever the User-Agent says) is applied after the cache. This is
// what the pipeline calls once per request.
func (e *Enricher) Agent(userAgent, secCHUAMobile string) (device string, bot bool) {
	a := e.agent(userAgent)
	device = deviceClasses[a&^agentBot]
	if secCHUAMobile == "?1" {
		device = Mobile
	}
	return device, a&agentBot != 0
}

func (e *Enricher) agent(userAgent string) agentAnswer {
	return cached(e.agents, e.counts, cacheAgent, userAgent, classifyAgent)
}
