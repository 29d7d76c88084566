package postgres

import "sync/atomic"

// interruptHook, set by the tests only (export_test.go), is asked between
// the first statement of a create (CREATE DATABASE, CREATE ROLE) and the
// ones that mark the resource as this object's. An error it returns stands
// for the create being cut off right there: a lost connection, a crash.
var interruptHook atomic.Pointer[func(name string) error]

// interrupted asks the test hook, if any, whether the create of name is
// cut off after its first statement.
func interrupted(name string) error {
	if f := interruptHook.Load(); f != nil {
		return (*f)(name)
	}
	return nil
}
