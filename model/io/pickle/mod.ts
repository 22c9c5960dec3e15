/**
 * @module
 * Reading PyTorch / Lightning checkpoints without running their pickles, and writing ones that
 * `torch.load(weights_only=True)` accepts.
 */
export {
  encodeLightningCheckpoint,
  LIGHTNING_VERSION,
  type LightningCheckpoint,
  type LightningReadOptions,
  type LightningWriteInput,
  readLightningCheckpoint,
} from "./lightning.ts";
export { configValue, omegaconfToPlain, type PlainValue } from "./omegaconf.ts";
export {
  encodeTorchSave,
  PyFloat,
  readTorchArchive,
  type TorchArchive,
  type TorchSaveValue,
} from "./torch_archive.ts";
export {
  PyGlobal,
  PyObject,
  PyTuple,
  STORAGE_DTYPES,
  type TorchDtype,
  type TorchStorage,
  TorchTensor,
  unpickle,
  type UnpickleLimits,
  type UnpickleOptions,
} from "./unpickle.ts";
