package postgres

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/storetest"
)

func TestSessions(t *testing.T) { storetest.RunSessions(t, newDatabase) }
