package settings

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknown: a key the registry does not declare.
	ErrUnknown = errors.New("unknown setting")
	// ErrInvalid: a value the key does not accept. Returned as *InvalidError.
	ErrInvalid = errors.New("invalid setting value")
)

// InvalidError says which key refused a value and what it allows.
// errors.Is(err, ErrInvalid); the cause, if any (a file that cannot be
// read, an anonymize option error), stays reachable through Unwrap.
type InvalidError struct {
	Key string
	Err error // what is wrong and what is allowed
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s for %s: %v", ErrInvalid, e.Key, e.Err)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func (e *InvalidError) Unwrap() error { return e.Err }

// ambiguousError: a key that could be any of several. errors.Is(err, ErrUnknown).
type ambiguousError string

func (e ambiguousError) Error() string { return string(e) }

func (e ambiguousError) Is(target error) bool { return target == ErrUnknown }

func invalid(key, format string, a ...any) error {
	return &InvalidError{Key: key, Err: fmt.Errorf(format, a...)}
}

// StoredError says that a value kept for a key could not be read back.
type StoredError struct {
	Key string
	Err error
}

func (e *StoredError) Error() string {
	return fmt.Sprintf("stored value of setting %s is unreadable: %v", e.Key, e.Err)
}

func (e *StoredError) Unwrap() error { return e.Err }
