//go:build !linux

package s3test

import (
	"os/exec"
	"time"
)

func dieWithParent(*exec.Cmd) {}

// CPU is not measured off Linux.
func (s *Server) CPU() time.Duration { return 0 }

// SelfCPU is not measured off Linux.
func SelfCPU() time.Duration { return 0 }
