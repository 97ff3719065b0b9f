package loadtest

import (
	"bytes"
	"math/rand/v2"
)

// BadReasons are the rejection reasons (docs/design.md §3) the generator can provoke, one defect
// per beacon so that the reason rumd names is unambiguous whatever order it checks in.
var BadReasons = []string{
	"malformed", "too_large", "non_monotonic", "negative", "future_mark",
	"clock_jump", "clock_skew", "out_of_range", "concealed", "bot",
}

func isBadReason(r string) bool {
	for _, b := range BadReasons {
		if b == r {
			return true
		}
	}
	return false
}

// maxBody is rumd's body limit; too_large bodies exceed it by a margin.
const maxBody = 64 << 10

// spoil turns the good beacon b of view v into one that rumd must reject for reason, and
// encodes it. variant picks among the ways each defect is made. It returns the body, the
// id offset (-1 when the body has no id to overwrite) and the user agent to send.
func spoil(r *rand.Rand, b *Beacon, v *View, reason string, variant int, dst []byte) ([]byte, int, string) {
	ua := v.UA
	m := &b.Marks
	switch reason {
	case "malformed":
		body, off := b.AppendJSON(dst)
		switch variant % 3 {
		case 0: // cut short: not JSON at all
			return body[:len(body)/2], off, ua
		case 1: // wrong type
			out := bytes.Replace(body, []byte(`"url":"`), []byte(`"url":42,"x":"`), 1)
			return out, off, ua
		default: // unknown version
			out := bytes.Replace(body, []byte(`{"v":1,`), []byte(`{"v":99,`), 1)
			return out, off + 1, ua
		}
	case "too_large":
		pad := make([]byte, maxBody+4096)
		for i := range pad {
			pad[i] = 'a' + byte(i%26)
		}
		b.URL += "&pad=" + string(pad)
	case "non_monotonic":
		// The response "started" before the request: a clock that went backwards. Both
		// marks stay positive and every derived duration stays positive.
		m[mResponseStart] = round1(m[mConnectEnd] + 0.1)
		if m[mResponseStart] >= m[mRequestStart] {
			m[mRequestStart] = round1(m[mResponseStart] + 0.5)
			m[mResponseStart] = round1(m[mConnectEnd] + 0.1)
		}
	case "negative":
		// performance.now() below zero, consistent with Date.now(): a clock rumd cannot
		// trust. A mark or vital below zero only drops the metrics that use it
		// (docs/design.md, "Rejection rules"), so it is no defect of the whole beacon.
		b.Now = -round1(1 + 4*r.Float64() + float64(variant%7))
		b.Origin = round1(b.Sent - b.Now)
	case "future_mark":
		// The load event "ended" after the page said it was sending: keep the clocks
		// consistent so only the mark is wrong.
		b.Now = round1((m[mDCLEnd] + m[mLoadEventEnd]) / 2)
		b.Origin = round1(b.Sent - b.Now)
	case "clock_jump":
		// The wall clock was stepped by minutes while the page lived.
		step := 60_000 + 540_000*r.Float64()
		if variant%2 == 1 {
			step = -step
		}
		b.Origin = round1(b.Origin + step)
	case "clock_skew":
		// A client clock a day and more off, consistent with itself.
		skew := (30 + 200*r.Float64()) * 3600_000
		if variant%2 == 1 {
			skew = -skew
		}
		b.Sent = round1(b.Sent + skew)
		b.Origin = round1(b.Origin + skew)
	case "out_of_range":
		// A number JSON can hold but a float cannot: it decodes to +Inf. A finite value
		// above a ceiling only drops that metric.
		key := []byte(`"now":`)
		if variant%2 == 1 {
			key = []byte(`"cls":`)
		}
		body, off := b.AppendJSON(dst)
		return bytes.Replace(body, key, append(append([]byte(nil), key...), `1e400,"x":`...), 1), off, ua
	case "concealed":
		// Every timing hidden: a zero responseStart (a cross-origin redirect without
		// Timing-Allow-Origin) and no vitals leave the beacon nothing to count.
		for i := range m {
			if i != mResponseEnd {
				m[i] = 0
			}
		}
		body, off := b.AppendJSON(dst)
		if i := bytes.Index(body, []byte(`,"vitals":{`)); i >= 0 {
			if j := bytes.IndexByte(body[i:], '}'); j >= 0 {
				body = append(body[:i], body[i+j+1:]...)
			}
		}
		return body, off, ua
	case "bot":
		if variant%2 == 0 {
			ua = BotUAs[r.IntN(len(BotUAs))]
		} else {
			b.Webdriver = true
		}
	}
	body, off := b.AppendJSON(dst)
	return body, off, ua
}
