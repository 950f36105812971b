//go:build race

package imagecopy

// raceDetector says the tests run under -race, where the copies run
// several times slower: tests whose real timeouts must outlast a copy's
// work lengthen them.
const raceDetector = true
