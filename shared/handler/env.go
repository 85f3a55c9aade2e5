package handler

import (
	"errors"
	"fmt"

	"github.com/kelseyhightower/envconfig"
)

// ReadEnv fills cfg (a pointer to a struct with envconfig tags) from the
// environment. A value that does not parse is one line naming the
// variable, the value and what it wants, instead of envconfig's account of
// its own reflection (field and Go type names).
func ReadEnv(cfg any) error {
	err := envconfig.Process("", cfg)
	var bad *envconfig.ParseError
	if errors.As(err, &bad) {
		return fmt.Errorf("%s=%q: want %s", bad.KeyName, bad.Value, wants(bad.TypeName))
	}
	return err
}

// wants says in words what a value of a Go type looks like.
func wants(typeName string) string {
	switch typeName {
	case "time.Duration":
		return "a duration such as 500ms, 2s, 1m or 1h30m"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	}
	return "a value of type " + typeName
}
