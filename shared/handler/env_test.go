package handler

import (
	"testing"
	"time"
)

func TestReadEnvNamesTheVariableTheValueAndWhatItWants(t *testing.T) {
	type config struct {
		Every time.Duration `envconfig:"ORDERFLOW_TEST_EVERY" default:"1s"`
		N     int           `envconfig:"ORDERFLOW_TEST_N" default:"1"`
		On    bool          `envconfig:"ORDERFLOW_TEST_ON" default:"false"`
		Rate  float64       `envconfig:"ORDERFLOW_TEST_RATE" default:"1"`
	}
	for _, tt := range []struct{ key, value, want string }{
		{"ORDERFLOW_TEST_EVERY", "banana", `ORDERFLOW_TEST_EVERY="banana": want a duration such as 500ms, 2s, 1m or 1h30m`},
		{"ORDERFLOW_TEST_N", "1.5", `ORDERFLOW_TEST_N="1.5": want a whole number`},
		{"ORDERFLOW_TEST_ON", "yes please", `ORDERFLOW_TEST_ON="yes please": want true or false`},
		{"ORDERFLOW_TEST_RATE", "fast", `ORDERFLOW_TEST_RATE="fast": want a number`},
	} {
		t.Run(tt.key, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			var cfg config
			err := ReadEnv(&cfg)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
	t.Setenv("ORDERFLOW_TEST_EVERY", "2s")
	var cfg config
	if err := ReadEnv(&cfg); err != nil || cfg.Every != 2*time.Second || cfg.N != 1 {
		t.Fatalf("%+v, %v", cfg, err)
	}
}
