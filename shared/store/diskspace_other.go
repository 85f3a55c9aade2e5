//go:build !unix

package store

import "errors"

func diskSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("disk space: not known on this platform")
}
