package inbound

import "github.com/correio-dev/correio/message"

// SetClassify replaces message.Classify (benchmarks only) and returns a
// function restoring it.
func SetClassify(f func(*message.Message, message.ClassifyOptions) message.Classification) func() {
	old := classify
	classify = f
	return func() { classify = old }
}
