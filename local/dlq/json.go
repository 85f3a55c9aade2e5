package dlq

import (
	"encoding/json"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
)

// EventJSON is e in the CloudEvents JSON format whatever its data holds: a
// dead letter carries what the dispatcher could not deliver, often no JSON
// at all, and the SDK's own encoding writes JSON-typed (or untyped) data
// as it is, failing on anything else. Here data that is JSON stays "data";
// text of a text/* type is a JSON string; everything else is
// "data_base64", beside its datacontenttype as it came.
func EventJSON(e event.Event) (json.RawMessage, error) {
	c := e.Clone()
	c.DataBase64 = !dataAsIs(e)
	return json.Marshal(c)
}

// dataAsIs reports whether e's data can be written as "data" and read
// back byte for byte.
func dataAsIs(e event.Event) bool {
	data := e.Data()
	if data == nil {
		return true
	}
	mt := "application/json" // an event without a content type claims JSON
	if ct := e.DataContentType(); ct != "" {
		parsed, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return false
		}
		mt = parsed
	}
	switch {
	case mt == "application/json", mt == "text/json", strings.HasSuffix(mt, "+json"):
		return json.Valid(data)
	case strings.HasPrefix(mt, "text/"):
		return utf8.Valid(data)
	}
	return false
}

// plainLetter is Letter without its methods, for MarshalJSON.
type plainLetter Letter

// MarshalJSON writes the letter with its event through EventJSON.
func (l Letter) MarshalJSON() ([]byte, error) {
	ev, err := EventJSON(l.Event)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		plainLetter
		Event json.RawMessage `json:"event"`
	}{plainLetter(l), ev})
}

// MarshalJSON writes the row as Letter.MarshalJSON does, with its id and
// function first.
func (r Row) MarshalJSON() ([]byte, error) {
	ev, err := EventJSON(r.Event)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		ID       string `json:"id"`
		Function string `json:"function"`
		plainLetter
		Event json.RawMessage `json:"event"`
	}{r.ID, r.Function, plainLetter(r.Letter), ev})
}
