package handler

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// ReadConfig fills spec, a pointer to a struct of envconfig-tagged fields,
// from the environment, then checks it with its Validate method when it
// has one. A value that does not decode into its field's type is reported
// in one line naming the variable, the value and what it wants: the
// field's `want` tag, the error of the field's own envconfig.Decoder, or
// else its type's usual form.
//
//	DeclineAboveCents int64 `envconfig:"PAYMENT_DECLINE_ABOVE_CENTS" default:"100000" want:"a whole number of cents >= 0"`
//
// gives `PAYMENT_DECLINE_ABOVE_CENTS="lots": want a whole number of cents >= 0`.
func ReadConfig(spec any) error {
	if err := envconfig.Process("", spec); err != nil {
		var pe *envconfig.ParseError
		if !errors.As(err, &pe) {
			return err
		}
		return fmt.Errorf("%s=%q: %s", pe.KeyName, pe.Value, wantOf(spec, pe))
	}
	if v, ok := spec.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// wantOf says what the field pe failed on wants.
func wantOf(spec any, pe *envconfig.ParseError) string {
	f, ok := reflect.TypeOf(spec).Elem().FieldByName(pe.FieldName)
	if !ok {
		return pe.Err.Error()
	}
	if want := f.Tag.Get("want"); want != "" {
		return "want " + want
	}
	if reflect.PointerTo(f.Type).Implements(reflect.TypeFor[envconfig.Decoder]()) {
		return pe.Err.Error()
	}
	return "want " + formOf(f.Type)
}

// formOf is how a value of type t is written in the environment.
func formOf(t reflect.Type) string {
	if t == reflect.TypeFor[time.Duration]() {
		return "a duration such as 500ms, 5s or 2m"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number >= 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a comma-separated list, each item " + formOf(t.Elem())
	}
	return "a value of type " + t.String()
}
