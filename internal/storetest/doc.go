// Package storetest holds the contract suites every adapter must pass.
package storetest
