package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// rateList is a flag of orders per second, written and shown as
// "20,40,60" (pflag's float slice shows "[20.000000,40.000000]").
type rateList []float64

func (r *rateList) String() string {
	parts := make([]string, len(*r))
	for i, v := range *r {
		parts[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Set replaces the default with the given list (a repeated flag adds).
func (r *rateList) Set(s string) error {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%q is not a number of orders per second", p)
		}
		out = append(out, v)
	}
	*r = out
	return nil
}

func (r *rateList) Type() string { return "rates" }
