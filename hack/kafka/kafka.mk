# hack/kafka/kafka.mk: a real Apache Kafka broker for the tests.
#
# k3sync reconciles topics, ACLs, SCRAM users and quotas on Kafka clusters,
# and checks topic names and configs itself at validate time
# (internal/kafkaspec). Its tests prove both against a real broker (see
# internal/testenv/kafka), not only against kfake, which accepts anything.
# The Kafka distribution tarball is not downloaded: `make kafka-bin` has
# Maven copy the broker's jars from Maven Central, using the tiny project
# hack/kafka/pom.xml (org.apache.kafka:kafka_2.13, which holds the KRaft
# server kafka.Kafka and the storage tool kafka.tools.StorageTool, all its
# runtime dependencies, and log4j2 as the backend of its slf4j logging).
# That is the libs/ directory of a distribution; the tests run the JVM on it
# directly (java -cp 'libs/*' kafka.Kafka ...), no shell scripts needed.
#
# It needs Java 17 or newer (Kafka 4 brokers need 17) and Maven; Maven's
# local repository is its default one (~/.m2/repository).
#
# Everything lands in bin/kafka-$(KAFKA_VERSION)/libs/ (git-ignored). The
# directory name is the cache key: when the broker jar exists the target
# does nothing, and bumping KAFKA_VERSION builds into a fresh directory.
# A cold run (empty ~/.m2, 45 jars, 43 MB from Maven Central) took 41 s on
# 2 cores shared with other builds; with ~/.m2 warm about 4.5 s. To force a
# new copy, delete the directory.
#
# KAFKA_BIN_DIR is exported so that `go test` started by make finds the
# jars; outside make, internal/testenv/kafka falls back to
# <repo root>/bin/kafka-4.4.0.
#
# Usage: include hack/kafka/kafka.mk from the main Makefile, or run it
# directly from the repository root: make -f hack/kafka/kafka.mk kafka-bin

KAFKA_VERSION ?= 4.4.0
KAFKA_BIN_DIR := $(CURDIR)/bin/kafka-$(KAFKA_VERSION)
export KAFKA_BIN_DIR

# Directory of this fragment, wherever it is included from: while make reads
# this file, it is the last entry of MAKEFILE_LIST.
KAFKA_HACK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

MVN ?= mvn
JAVA ?= java

.PHONY: kafka-bin
## kafka-bin: copy the Kafka broker's jars for the tests from Maven Central into bin/kafka-<KAFKA_VERSION>/libs/ (skipped when present)
kafka-bin: $(KAFKA_BIN_DIR)/libs/kafka_2.13-$(KAFKA_VERSION).jar

# No prerequisites: it runs only when the broker jar is missing. The jars
# are copied into a scratch directory that is renamed at the end, so an
# interrupted run never leaves a partial libs/ behind.
$(KAFKA_BIN_DIR)/libs/kafka_2.13-$(KAFKA_VERSION).jar:
	@command -v $(JAVA) >/dev/null || { echo "make kafka-bin: $(JAVA) not found: install a JDK 17 or newer (Debian: openjdk-17-jdk-headless)" >&2; exit 1; }
	@v=$$($(JAVA) -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -1); \
	 if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then \
		echo "make kafka-bin: Kafka $(KAFKA_VERSION) needs Java 17 or newer, '$(JAVA) -version' says:" >&2; \
		$(JAVA) -version 2>&1 | sed -e 's/^/  /' >&2; exit 1; fi
	@command -v $(MVN) >/dev/null || { echo "make kafka-bin: $(MVN) not found: install Maven (Debian: maven)" >&2; exit 1; }
	@echo ">> copying Kafka $(KAFKA_VERSION) jars from Maven Central into $(KAFKA_BIN_DIR)/libs"
	@rm -rf $(KAFKA_BIN_DIR).tmp && mkdir -p $(KAFKA_BIN_DIR).tmp/libs
	@# Maven's output (colour codes even with -q -B) is shown only if it fails.
	$(MVN) -q -B -Dstyle.color=never -f $(KAFKA_HACK_DIR)/pom.xml package \
		-Dkafka.version=$(KAFKA_VERSION) -Dkafka.libs=$(KAFKA_BIN_DIR).tmp/libs \
		>$(KAFKA_BIN_DIR).tmp/maven.log 2>&1 || { cat $(KAFKA_BIN_DIR).tmp/maven.log >&2; exit 1; }
	@rm -f $(KAFKA_BIN_DIR).tmp/maven.log
	@test -f $(KAFKA_BIN_DIR).tmp/libs/kafka_2.13-$(KAFKA_VERSION).jar || { \
		echo "make kafka-bin: Maven did not copy kafka_2.13-$(KAFKA_VERSION).jar" >&2; exit 1; }
	@rm -rf $(KAFKA_BIN_DIR) && mv $(KAFKA_BIN_DIR).tmp $(KAFKA_BIN_DIR)
	@echo "Kafka $$($(JAVA) -cp '$(KAFKA_BIN_DIR)/libs/*' kafka.Kafka --version 2>/dev/null | head -1):" \
	      "$$(ls $(KAFKA_BIN_DIR)/libs | wc -l) jars in $(KAFKA_BIN_DIR)/libs"
