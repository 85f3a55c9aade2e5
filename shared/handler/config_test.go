package handler_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"orderflow.dev/shared/handler"
)

// sample is a configuration with one field of each kind ReadConfig
// explains.
type sample struct {
	Limit int64         `envconfig:"TEST_CFG_LIMIT" default:"10" want:"a whole number of things >= 0"`
	Count int           `envconfig:"TEST_CFG_COUNT" default:"1"`
	Wait  time.Duration `envconfig:"TEST_CFG_WAIT" default:"1s"`
	On    bool          `envconfig:"TEST_CFG_ON" default:"false"`
	Sizes []int         `envconfig:"TEST_CFG_SIZES" default:"1,2"`
	Names []string      `envconfig:"TEST_CFG_NAMES" default:"a,b"`
	Odd   oddNumber     `envconfig:"TEST_CFG_ODD" default:"1"`
}

// oddNumber decodes itself, as a list in a format of its own would.
type oddNumber int

func (o *oddNumber) Decode(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n%2 == 0 {
		return errors.New("want an odd whole number")
	}
	*o = oddNumber(n)
	return nil
}

func (s *sample) Validate() error {
	if s.Limit < 0 {
		return errors.New("TEST_CFG_LIMIT: negative")
	}
	return nil
}

func TestReadConfigNamesVariableValueAndWant(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"want tag", "TEST_CFG_LIMIT", "lots", `TEST_CFG_LIMIT="lots": want a whole number of things >= 0`},
		{"empty is not a number", "TEST_CFG_LIMIT", "", `TEST_CFG_LIMIT="": want a whole number of things >= 0`},
		{"int by its type", "TEST_CFG_COUNT", "1.5", `TEST_CFG_COUNT="1.5": want a whole number`},
		{"duration", "TEST_CFG_WAIT", "soon", `TEST_CFG_WAIT="soon": want a duration such as 500ms, 5s or 2m`},
		{"bool", "TEST_CFG_ON", "yes please", `TEST_CFG_ON="yes please": want true or false`},
		{"list item", "TEST_CFG_SIZES", "1,two,3", `TEST_CFG_SIZES="1,two,3": want a comma-separated list, each item a whole number`},
		{"own decoder", "TEST_CFG_ODD", "4", `TEST_CFG_ODD="4": want an odd whole number`},
		{"validate runs after decoding", "TEST_CFG_LIMIT", "-3", `TEST_CFG_LIMIT: negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			var s sample
			err := handler.ReadConfig(&s)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestReadConfigDecodesTypedFields(t *testing.T) {
	t.Setenv("TEST_CFG_LIMIT", "250")
	t.Setenv("TEST_CFG_WAIT", "2m")
	t.Setenv("TEST_CFG_NAMES", "x,y,z")
	t.Setenv("TEST_CFG_ODD", "7")
	var s sample
	if err := handler.ReadConfig(&s); err != nil {
		t.Fatal(err)
	}
	if s.Limit != 250 || s.Count != 1 || s.Wait != 2*time.Minute || s.On || strings.Join(s.Names, "|") != "x|y|z" || len(s.Sizes) != 2 || s.Odd != 7 {
		t.Fatalf("decoded %+v", s)
	}
}
