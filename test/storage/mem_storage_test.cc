// The in-memory Storage fake the unit tests use (test/fakes/mem_storage.h)
// behaves like the real store: it runs the storage conformance suite.
#include <memory>
#include <string>

#include "test/fakes/mem_storage.h"
#include "test/storage/storage_conformance.h"

namespace minik8s::storage {
namespace {

using testing::StorageFactory;

MINIK8S_STORAGE_CONFORMANCE(Mem, StorageFactory{
                                     "mem", [](const std::string&) {
                                       return std::unique_ptr<Storage>(
                                           std::make_unique<::minik8s::testing::MemStorage>());
                                     }});

}  // namespace
}  // namespace minik8s::storage
