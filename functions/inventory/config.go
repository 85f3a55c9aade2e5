package function

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed stock.json
var defaultStock []byte

// Config is the inventory function's own configuration. At most one of the
// two settings may be given; either replaces the built-in stock.json.
// handler.ReadConfig decodes it and calls Validate.
type Config struct {
	// StockFile is a JSON object of SKU -> quantity.
	StockFile string `envconfig:"INVENTORY_STOCK_FILE"`
	// Stock is the same inline, as "sku-a=10,sku-b=5"; nil when not given.
	Stock StockList `envconfig:"INVENTORY_STOCK"`
}

// Validate refuses the two settings given together.
func (c *Config) Validate() error {
	if c.StockFile != "" && c.Stock != nil {
		return fmt.Errorf("INVENTORY_STOCK_FILE and INVENTORY_STOCK are both set: set one of them")
	}
	return nil
}

// skuPattern is the SKU pattern of the event schemas: stock under any other
// name could never be ordered.
var skuPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// initialStock returns the stock to seed and a description of where it came
// from. Every error names the setting and the entry at fault.
func initialStock(cfg Config) (map[string]int, string, error) {
	switch {
	case cfg.Stock != nil:
		return cfg.Stock, "INVENTORY_STOCK", nil
	case cfg.StockFile != "":
		raw, err := os.ReadFile(cfg.StockFile)
		if err != nil {
			return nil, "", fmt.Errorf("INVENTORY_STOCK_FILE: %w", err)
		}
		setting := "INVENTORY_STOCK_FILE=" + cfg.StockFile
		s, err := parseStockJSON(setting, raw)
		return s, setting, err
	default:
		s, err := parseStockJSON("built-in stock.json", defaultStock)
		return s, "built-in stock.json", err
	}
}

// StockList is INVENTORY_STOCK as envconfig decodes it (Decode), from
// "sku-a=10, sku-b=5". Set but empty is not given. Empty entries (a
// trailing comma) are allowed; a SKU given twice is not, since one of the
// two quantities would be silently lost. Errors name the entry at fault.
type StockList map[string]int

func (s *StockList) Decode(list string) error {
	if list == "" {
		return nil
	}
	out := StockList{}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		sku, qty, ok := strings.Cut(entry, "=")
		if !ok {
			return fmt.Errorf("entry %q: want sku=quantity", entry)
		}
		sku, qty = strings.TrimSpace(sku), strings.TrimSpace(qty)
		n, err := strconv.Atoi(qty)
		if err != nil || n < 0 {
			return fmt.Errorf("entry %q: quantity %q is not a whole number >= 0", entry, qty)
		}
		if err := checkSKU(sku); err != nil {
			return fmt.Errorf("entry %q: %v", entry, err)
		}
		if _, dup := out[sku]; dup {
			return fmt.Errorf("entry %q: %s is listed twice", entry, sku)
		}
		out[sku] = n
	}
	if len(out) == 0 {
		return fmt.Errorf("no entries; want \"sku-a=10,sku-b=5\"")
	}
	*s = out
	return nil
}

// parseStockJSON reads {"sku-a": 10, ...}.
func parseStockJSON(setting string, raw []byte) (map[string]int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, fmt.Errorf("%s: want a JSON object of sku -> quantity, such as {\"sku-tee\": 100} (%v)", setting, err)
	}
	skus := make([]string, 0, len(doc))
	for sku := range doc {
		skus = append(skus, sku)
	}
	sort.Strings(skus) // the first bad entry is the same on every run
	out := map[string]int{}
	for _, sku := range skus {
		num, ok := doc[sku].(json.Number)
		n, err := strconv.Atoi(string(num))
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("%s: entry %q: quantity %v is not a whole number >= 0", setting, sku, doc[sku])
		}
		if err := checkSKU(sku); err != nil {
			return nil, fmt.Errorf("%s: entry %q: %v", setting, sku, err)
		}
		out[sku] = n
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no SKUs", setting)
	}
	return out, nil
}

func checkSKU(sku string) error {
	if !skuPattern.MatchString(sku) {
		return fmt.Errorf("SKU %q does not match %s, so it could never be ordered", sku, skuPattern)
	}
	return nil
}
