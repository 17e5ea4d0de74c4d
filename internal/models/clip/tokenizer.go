package clip

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"html"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// ContextLength is CLIP's fixed text length in tokens.
const ContextLength = 77

// Tokenizer is CLIP's byte-level BPE tokenizer (OpenAI's simple_tokenizer),
// read from the merges file bpe_simple_vocab_16e6.txt.gz. With that file
// the start and end tokens get ids 49406 and 49407.
//
// One difference from the Python original: it does not run ftfy's mojibake
// repair; text is HTML-unescaped, whitespace-collapsed and lowercased as
// CLIP does, which covers ordinary labels and captions.
type Tokenizer struct {
	encoder  map[string]int32
	ranks    map[[2]string]int
	SOT, EOT int32

	mu    sync.Mutex
	cache map[string][]string
}

// maxMerges is how many merge lines OpenAI's tokenizer reads
// (49152 - 256 - 2), which makes the vocabulary 49408 tokens.
const maxMerges = 49152 - 256 - 2

// tokenPattern is CLIP's pre-tokenizer regex (case-insensitive).
var tokenPattern = regexp.MustCompile(`(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`)

var spaces = regexp.MustCompile(`\s+`)

// LoadTokenizer reads a merges file, gzipped or plain.
func LoadTokenizer(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clip: vocabulary: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("clip: vocabulary %s: %w", path, err)
		}
		r = gz
	}
	t, err := NewTokenizer(r)
	if err != nil {
		return nil, fmt.Errorf("clip: vocabulary %s: %w", path, err)
	}
	return t, nil
}

// NewTokenizer reads merges in the bpe_simple_vocab format: a version line,
// then one "a b" merge per line, most frequent first.
func NewTokenizer(r io.Reader) (*Tokenizer, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var merges [][2]string
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // "#version: 0.2"
		}
		text := sc.Text()
		if text == "" {
			continue
		}
		if len(merges) == maxMerges {
			break
		}
		a, b, ok := strings.Cut(text, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("line %d: %q is not a merge (want two tokens separated by one space)", line, text)
		}
		merges = append(merges, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, fmt.Errorf("empty vocabulary file")
	}
	byteUnicode := bytesToUnicode()
	vocab := make([]string, 0, 512+len(merges)+2)
	for _, r := range byteUnicode {
		vocab = append(vocab, string(r))
	}
	for _, r := range byteUnicode {
		vocab = append(vocab, string(r)+"</w>")
	}
	t := &Tokenizer{
		encoder: map[string]int32{},
		ranks:   make(map[[2]string]int, len(merges)),
		cache:   map[string][]string{},
	}
	for i, m := range merges {
		vocab = append(vocab, m[0]+m[1])
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = i
		}
	}
	vocab = append(vocab, "<|startoftext|>", "<|endoftext|>")
	for i, v := range vocab {
		t.encoder[v] = int32(i)
	}
	t.SOT, t.EOT = int32(len(vocab)-2), int32(len(vocab)-1)
	return t, nil
}

// byteRune is OpenAI's bytes_to_unicode: printable Latin-1 bytes stand for
// themselves, the rest for code points from 256 up, in byte order.
var byteRune = func() [256]rune {
	var m [256]rune
	n := 0
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}()

// bytesToUnicode lists the byte runes in the order of OpenAI's vocabulary:
// the printable ones first, then the rest.
func bytesToUnicode() []rune {
	var printable, rest []rune
	for b, r := range byteRune {
		if r == rune(b) {
			printable = append(printable, r)
		} else {
			rest = append(rest, r)
		}
	}
	return append(printable, rest...)
}

// Clean is CLIP's text normalisation (less ftfy): HTML entities decoded,
// whitespace collapsed, lowercased.
func Clean(s string) string {
	s = html.UnescapeString(html.UnescapeString(s))
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	return strings.ToLower(s)
}

// Encode returns the BPE ids of text, without start and end tokens.
func (t *Tokenizer) Encode(text string) []int32 {
	var ids []int32
	for _, tok := range tokenPattern.FindAllString(Clean(text), -1) {
		if tok == "<|startoftext|>" || tok == "<|endoftext|>" {
			ids = append(ids, t.encoder[tok])
			continue
		}
		var b strings.Builder
		for i := 0; i < len(tok); i++ {
			b.WriteRune(byteRune[tok[i]])
		}
		for _, piece := range t.bpe(b.String()) {
			ids = append(ids, t.encoder[piece])
		}
	}
	return ids
}

// Tokens returns text as CLIP's text tower takes it: SOT, the BPE ids, EOT,
// cut to ContextLength (keeping EOT last) and zero-padded.
func (t *Tokenizer) Tokens(text string) []int32 {
	ids := append([]int32{t.SOT}, t.Encode(text)...)
	ids = append(ids, t.EOT)
	if len(ids) > ContextLength {
		ids = ids[:ContextLength]
		ids[ContextLength-1] = t.EOT
	}
	out := make([]int32, ContextLength)
	copy(out, ids)
	return out
}

// bpe splits one pre-token (already mapped to byte runes) into vocabulary
// pieces by applying merges in rank order.
func (t *Tokenizer) bpe(token string) []string {
	t.mu.Lock()
	p, ok := t.cache[token]
	t.mu.Unlock()
	if ok {
		return p
	}
	word := make([]string, 0, utf8.RuneCountInString(token))
	for _, r := range token {
		word = append(word, string(r))
	}
	if len(word) == 0 {
		return nil
	}
	word[len(word)-1] += "</w>"
	for len(word) > 1 {
		best, bestRank := -1, int(^uint(0)>>1)
		for i := 0; i+1 < len(word); i++ {
			if r, ok := t.ranks[[2]string{word[i], word[i+1]}]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		// Merge every occurrence of the best pair, left to right.
		pair := [2]string{word[best], word[best+1]}
		merged := word[:0:0]
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == pair[0] && word[i+1] == pair[1] {
				merged = append(merged, pair[0]+pair[1])
				i += 2
			} else {
				merged = append(merged, word[i])
				i++
			}
		}
		word = merged
	}
	t.mu.Lock()
	if len(t.cache) < 1<<16 {
		t.cache[token] = word
	}
	t.mu.Unlock()
	return word
}
