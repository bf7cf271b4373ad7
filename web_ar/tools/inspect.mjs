// Load GLB files in Node with three.js GLTFLoader and describe what a client would see.
//
//   node tools/inspect.mjs FILE.glb            -> one JSON object on stdout
//   node tools/inspect.mjs A.glb B.glb ...     -> a JSON list, in argument order
//
// Works on plain GLBs and on EXT_meshopt_compression + KHR_mesh_quantization ones
// (three's own MeshoptDecoder). Textures are not supported headless (arkit's GLBs have none).
//
// Shape of one result:
//   {
//     "file": str,
//     "extensions_used": [str], "extensions_required": [str],
//     "nodes": [{                       // every glTF node with a name, in glTF node order
//        "index": int,
//        "name": str,                    // as three.js names it: sanitised, made unique
//        "gltf_name": str,               // as the file names it
//        "parent": str|null,             // nearest named ancestor
//        "structure": bool,              // extras.label is set (docs/hologram-format.md "Node tree")
//        "extras": {...},                // node extras (three's userData)
//        "meshes": [{                    // meshes owned by this node: each mesh belongs to
//                                        // its nearest structure node (itself or an
//                                        // ancestor), else its nearest named node
//           "name": str, "vertices": int, "triangles": int, "mode": str,
//           "has_color": bool, "morph_targets": int, "morph_attributes": [str],
//           "morph_weights": [float],     // initial influences (glTF mesh.weights)
//           "labels": [number],           // only on merged meshes: the _LABEL values present
//           "material": {"name", "transparent", "opacity", "type", "vertex_colors",
//                        "depth_write", "side"}}],
//        "bbox": {"min": [x,y,z], "max": [x,y,z]} | null}],   // subtree, world space
//     "animations": [{"name", "duration", "tracks": [str], "track_keys": [int]}],
//     "scene_extras": {...},             // scene extras (three's scene.userData)
//     "structures": [str],               // names of the structure nodes
//     "triangles": int, "draw_calls": int,   // totals over every mesh drawn
//     "bbox": {"min", "max"} | null     // whole scene, world space, after node transforms
//   }
// A file that fails to load gives {"file": FILE, "error": "<message>"} instead; the exit
// code is 0 all the same (the caller judges); only bad usage exits 2.
import fs from 'node:fs';
import * as THREE from 'three';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { MeshoptDecoder } from 'three/examples/jsm/libs/meshopt_decoder.module.js';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('inspect: usage: node inspect.mjs FILE.glb [FILE.glb ...]\n');
  process.exit(2);
}

// GLTFLoader warns through console.warn (unknown extensions and the like); keep stdout
// clean JSON by sending every console line to stderr.
for (const level of ['log', 'info', 'warn', 'debug']) {
  console[level] = (...args) => process.stderr.write(`inspect: ${args.map(String).join(' ')}\n`);
}

const MODES = {
  [THREE.TrianglesDrawMode]: 'triangles',
  [THREE.TriangleStripDrawMode]: 'triangle_strip',
  [THREE.TriangleFanDrawMode]: 'triangle_fan',
};

function round(x) {
  return Math.round(x * 1e7) / 1e7;
}

function boxJSON(box) {
  if (box.isEmpty()) return null;
  return { min: box.min.toArray().map(round), max: box.max.toArray().map(round) };
}

function meshType(object) {
  if (object.isSkinnedMesh) return 'SkinnedMesh';
  if (object.isInstancedMesh) return 'InstancedMesh';
  if (object.isMesh) return 'Mesh';
  if (object.isLineSegments) return 'LineSegments';
  if (object.isLine) return 'Line';
  if (object.isPoints) return 'Points';
  return object.type;
}

function describeMesh(mesh) {
  const geometry = mesh.geometry;
  const position = geometry.attributes.position;
  const vertices = position ? position.count : 0;
  let mode = 'triangles';
  let triangles = 0;
  if (mesh.isMesh) {
    const drawMode = mesh.userData.__drawMode ?? THREE.TrianglesDrawMode;
    mode = MODES[drawMode] ?? String(drawMode);
    const n = geometry.index ? geometry.index.count : vertices;
    triangles = mode === 'triangles' ? Math.floor(n / 3) : Math.max(0, n - 2);
  } else {
    mode = meshType(mesh).toLowerCase();
  }
  const morphAttributes = Object.keys(geometry.morphAttributes).filter(
    (k) => geometry.morphAttributes[k].length > 0,
  );
  const morphTargets = Math.max(0, ...morphAttributes.map((k) => geometry.morphAttributes[k].length));
  const material = Array.isArray(mesh.material) ? mesh.material[0] : mesh.material;
  // Merged meshes carry each vertex's structure label in _LABEL (three: _label).
  let labels;
  const labelAttr = geometry.attributes._label;
  if (labelAttr) {
    const seen = new Set();
    for (let i = 0; i < labelAttr.count; i++) seen.add(labelAttr.getX(i));
    labels = [...seen].sort((a, b) => a - b);
  }
  return {
    name: mesh.name,
    type: meshType(mesh),
    vertices,
    triangles,
    mode,
    has_color: 'color' in geometry.attributes,
    morph_targets: morphTargets,
    morph_attributes: morphAttributes,
    morph_weights: (mesh.morphTargetInfluences ?? []).map(round),
    ...(labels ? { labels } : {}),
    material: material
      ? {
          name: material.name,
          type: material.type,
          transparent: material.transparent,
          opacity: material.opacity,
          vertex_colors: material.vertexColors,
          depth_write: material.depthWrite,
          side: material.side === THREE.DoubleSide ? 'double' : material.side === THREE.BackSide ? 'back' : 'front',
        }
      : null,
  };
}

function parseGLB(bytes) {
  const loader = new GLTFLoader();
  loader.setMeshoptDecoder(MeshoptDecoder);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return new Promise((resolve, reject) => loader.parse(buffer, '', resolve, reject));
}

async function inspectFile(file) {
  const gltf = await parseGLB(fs.readFileSync(file));
  const scene = gltf.scene;
  scene.updateMatrixWorld(true);
  const json = gltf.parser.json;

  // glTF node index -> Object3D (GLTFLoader records these associations).
  const byIndex = new Map();
  scene.traverse((object) => {
    const assoc = gltf.parser.associations.get(object);
    if (assoc && assoc.nodes !== undefined && !byIndex.has(assoc.nodes)) byIndex.set(assoc.nodes, object);
  });
  const listed = new Set();
  for (const [index, object] of byIndex) {
    if ((json.nodes[index].name ?? '') !== '') listed.add(object);
  }
  const isStructure = (o) => listed.has(o) && o.userData && o.userData.label !== undefined && o.userData.label !== null;

  // Every mesh belongs to exactly one listed node: its nearest structure node (itself or
  // an ancestor: compressors put the mesh on a dequantisation child), else its nearest
  // named node. So adding up "meshes" over "nodes" never counts a mesh twice.
  const owned = new Map();
  let triangles = 0;
  let drawCalls = 0;
  scene.traverse((o) => {
    if (!o.geometry) return;
    const described = describeMesh(o);
    triangles += described.triangles;
    drawCalls += 1;
    let owner = null;
    for (let a = o; a && a !== scene; a = a.parent) {
      if (isStructure(a)) { owner = a; break; }
      if (owner === null && listed.has(a)) owner = a;
    }
    if (owner) {
      if (!owned.has(owner)) owned.set(owner, []);
      owned.get(owner).push(described);
    }
  });

  const nodes = [];
  for (const index of [...byIndex.keys()].sort((a, b) => a - b)) {
    const object = byIndex.get(index);
    if (!listed.has(object)) continue;
    let parent = object.parent;
    while (parent && parent !== scene && !listed.has(parent)) parent = parent.parent;
    // GLTFLoader copies the glTF name into userData.name; extras are the file's own.
    const extras = { ...object.userData };
    const fileExtras = json.nodes[index].extras;
    if (!(fileExtras && typeof fileExtras === 'object' && 'name' in fileExtras)) delete extras.name;
    nodes.push({
      index,
      name: object.name,
      gltf_name: json.nodes[index].name,
      parent: parent && parent !== scene ? parent.name : null,
      structure: isStructure(object),
      extras,
      meshes: owned.get(object) ?? [],
      // Everything drawn in the node's subtree, world space.
      bbox: boxJSON(new THREE.Box3().setFromObject(object, true)),
    });
  }

  return {
    file,
    extensions_used: json.extensionsUsed ?? [],
    extensions_required: json.extensionsRequired ?? [],
    nodes,
    animations: gltf.animations.map((clip) => ({
      name: clip.name,
      duration: round(clip.duration),
      tracks: clip.tracks.map((t) => t.name),
      track_keys: clip.tracks.map((t) => t.times.length),
    })),
    scene_extras: scene.userData,
    structures: nodes.filter((n) => n.structure).map((n) => n.name),
    triangles,
    draw_calls: drawCalls,
    bbox: boxJSON(new THREE.Box3().setFromObject(scene, true)),
  };
}

const results = [];
for (const file of files) {
  try {
    results.push(await inspectFile(file));
  } catch (err) {
    results.push({ file, error: `inspect: ${file}: ${err && err.message ? err.message : String(err)}` });
  }
}
process.stdout.write(JSON.stringify(files.length === 1 ? results[0] : results) + '\n');
