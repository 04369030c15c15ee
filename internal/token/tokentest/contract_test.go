package tokentest_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/token/tokentest"
)

func TestMemoryKeyStore(t *testing.T) {
	tokentest.RunKeyStoreContract(t, func(*testing.T) token.KeyStore { return tokentest.NewMemoryKeyStore() })
}
