// Decoder for Kubernetes protobuf request bodies
// (Content-Type: application/vnd.kubernetes.protobuf).
//
// Stock kubectl (1.32+) sends the bodies of its typed "generator" commands
// (`create namespace|configmap|secret generic|deployment|service ...`) as
// protobuf and does not retry with JSON on 415, so the API server decodes them
// into the same JSON form a JSON client would have sent.
//
// Wire form: the 4-byte magic "k8s\0", then a runtime.Unknown message
// {typeMeta{apiVersion, kind}, raw (the object's own protobuf encoding),
// contentEncoding, contentType}. The object is decoded with per-kind field
// tables (numbers from Kubernetes' generated.proto files); fields a table does
// not know are skipped.
//
// JSON conventions follow what Go's encoding/json would print for the same Go
// object: non-pointer scalars (which Go's protobuf marshaller always writes,
// even when zero) are omitted when zero/empty, like `omitempty`; pointer
// fields (replicas, immutable, terminationGracePeriodSeconds, ...) are kept
// whenever present on the wire, zero included; nested objects present on the
// wire are kept (possibly `{}`); empty lists and maps are omitted. Specials:
// meta/v1 Time -> RFC 3339 string (zero Time omitted), MicroTime -> RFC 3339
// with microseconds, IntOrString -> JSON int or string, Quantity -> its
// string, []byte -> base64 string, embedded structs (LocalObjectReference,
// VolumeSource, ProbeHandler) are inlined into their parent object. Status
// sub-objects of workloads are not decoded (the server owns status).
//
// Decoded kinds: v1 Namespace, ConfigMap, Secret, Service, Pod;
// apps/v1 Deployment, ReplicaSet; autoscaling/v1 and autoscaling/v2
// HorizontalPodAutoscaler (`kubectl autoscale` 1.32 posts autoscaling/v1).
// The result keeps the apiVersion that was sent; no version conversion.
//
// Thread-safety: pure function, safe to call concurrently.
// Errors: kBadRequest for malformed input (bad magic, truncated or
// inconsistent wire data, nesting too deep); kUnsupported (415) for a kind
// without a table or a non-empty contentEncoding. Never throws or crashes.
#pragma once

#include <string_view>

#include "minik8s/api/json.h"

namespace minik8s::api {

// The 4 bytes that start every Kubernetes protobuf body.
inline constexpr std::string_view kK8sProtobufMagic{"k8s\0", 4};
inline constexpr std::string_view kK8sProtobufContentType = "application/vnd.kubernetes.protobuf";

// Decodes a Kubernetes protobuf body (magic + runtime.Unknown) into the JSON
// form of the object, with apiVersion and kind set.
Result<Json> decode_k8s_protobuf(std::string_view body);

}  // namespace minik8s::api
