package enrich

import "slices"

// tokenMatcher finds any of a fixed set of tokens in a string in one pass. A bitset indexed
// by a hash of the first three bytes of every token lets the scan pass over almost every
// position of a browser User-Agent with one multiply and one table load; the tokens starting
// at a position are compared only when its three bytes hit the bitset. This keeps
// User-Agent checks near a nanosecond per byte without a regular expression.
type tokenMatcher struct {
	tokens []string
	fold   bool                 // match ASCII case-insensitively; tokens are lower case
	heads  [1 << 16 / 64]uint64 // bit triHash(b0 b1 b2) set when some token starts with b0 b1 b2
	first  [256][]uint8         // token indices by first byte, longest first
}

func newTokenMatcher(fold bool, tokens ...string) *tokenMatcher {
	m := &tokenMatcher{tokens: tokens, fold: fold}
	for i, t := range tokens {
		if len(t) < 3 || len(tokens) > 255 {
			panic("enrich: token matcher wants tokens of three bytes or more and at most 255 of them")
		}
		h := triHash(uint32(t[0])<<16 | uint32(t[1])<<8 | uint32(t[2]))
		m.heads[h/64] |= 1 << (h % 64)
		m.first[t[0]] = append(m.first[t[0]], uint8(i))
	}
	for b := range m.first {
		slices.SortStableFunc(m.first[b], func(x, y uint8) int { return len(tokens[y]) - len(tokens[x]) })
	}
	return m
}

// next returns the position of the first token occurrence in s at or after from, and the
// token's index; pos is -1 when there is none. Where tokens overlap at one position, the
// longest wins.
func (m *tokenMatcher) next(s string, from int) (pos, tok int) {
	if from >= len(s) {
		return -1, -1
	}
	fold := &identity
	if m.fold {
		fold = &lowerTable
	}
	var w uint32
	for i := from; i < len(s); i++ {
		w = (w<<8 | uint32(fold[s[i]])) & 0xFFFFFF
		if i < from+2 {
			continue
		}
		h := triHash(w)
		if m.heads[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		for _, ti := range m.first[w>>16] {
			if m.hasPrefix(s[i-2:], m.tokens[ti]) {
				return i - 2, int(ti)
			}
		}
	}
	return -1, -1
}

// triHash maps three bytes to 16 bits.
func triHash(w uint32) uint32 { return (w * 0x9E3779B1) >> 16 }

func (m *tokenMatcher) hasPrefix(s, t string) bool {
	if len(s) < len(t) {
		return false
	}
	if !m.fold {
		return s[:len(t)] == t
	}
	for k := 0; k < len(t); k++ {
		if lower(s[k]) != t[k] {
			return false
		}
	}
	return true
}

func lower(c byte) byte { return lowerTable[c] }

var identity, lowerTable = func() (id, lo [256]byte) {
	for i := range 256 {
		id[i], lo[i] = byte(i), byte(i)
		if 'A' <= i && i <= 'Z' {
			lo[i] = byte(i + 'a' - 'A')
		}
	}
	return id, lo
}()
