package kafka

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

const (
	// Version is the Kafka release `make kafka-bin` copies by default
	// (KAFKA_VERSION in hack/kafka/kafka.mk) and the one the tests expect.
	Version = "4.4.0"

	// BinDirEnv names the environment variable holding the directory whose
	// libs/ has the broker's jars. make exports it.
	BinDirEnv = "KAFKA_BIN_DIR"
)

// installation is what a cluster runs: a java binary and the class path
// of the broker's jars.
type installation struct {
	java      string
	classPath string // <dir>/libs/*
}

// findInstallation locates the jars (see the package documentation) and
// the java binary: $JAVA_HOME/bin/java, else java on $PATH.
func findInstallation(explicit string) (installation, error) {
	dir, err := proc.BinDir(explicit, BinDirEnv, "kafka-"+Version, "kafka jars")
	if err != nil {
		return installation{}, err //nolint:wrapcheck // proc's error says what failed
	}
	libs := filepath.Join(dir, "libs")
	if fi, err := os.Stat(filepath.Join(libs, "kafka_2.13-"+Version+".jar")); err != nil || fi.IsDir() {
		return installation{}, fmt.Errorf("kafka jars not found in %s: run 'make kafka-bin'", dir)
	}
	java := ""
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if fi, err := os.Stat(filepath.Join(home, "bin", "java")); err == nil && !fi.IsDir() {
			java = filepath.Join(home, "bin", "java")
		}
	}
	if java == "" {
		if java, err = exec.LookPath("java"); err != nil {
			return installation{}, fmt.Errorf("kafka needs java 17 or newer: %w", err)
		}
	}
	return installation{java: java, classPath: filepath.Join(libs, "*")}, nil
}
