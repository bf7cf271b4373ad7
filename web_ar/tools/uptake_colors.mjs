// Play an animated hologram's clip with three.js (GLTFLoader + AnimationMixer) and report
// the colour each structure shows at given clip times: what a viewer computes, from the
// decoded morph attributes and the mixer's influences, not from the file's numbers.
//
//   node tools/uptake_colors.mjs FILE.glb T1 [T2 ...]     (clip seconds)
//
// Output (JSON on stdout):
//   {"clip": str, "duration": float, "times": [float],
//    "structures": {name: {"node": gltf node name, "colors": [[r, g, b] per time],
//                          "influences": [[w0..w7] per time]}}}
// name is the structure node's glTF name (the mesh's nearest ancestor with extras.label or
// extras.merged). Colours are linear RGB of vertex 0: base COLOR_0 + sum of influence x
// target COLOR_0 delta, as three's morphcolor_vertex shader computes them.
import fs from 'node:fs';
import * as THREE from 'three';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { MeshoptDecoder } from 'three/examples/jsm/libs/meshopt_decoder.module.js';

const [file, ...timeArgs] = process.argv.slice(2);
if (!file || timeArgs.length === 0) {
  process.stderr.write('uptake_colors: usage: node uptake_colors.mjs FILE.glb T1 [T2 ...]\n');
  process.exit(2);
}
for (const level of ['log', 'info', 'warn', 'debug']) {
  console[level] = (...args) => process.stderr.write(`uptake_colors: ${args.map(String).join(' ')}\n`);
}

const bytes = fs.readFileSync(file);
const loader = new GLTFLoader();
loader.setMeshoptDecoder(MeshoptDecoder);
const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
const gltf = await new Promise((resolve, reject) => loader.parse(buffer, '', resolve, reject));

if (gltf.animations.length !== 1) {
  process.stderr.write(`uptake_colors: expected one clip, found ${gltf.animations.length}\n`);
  process.exit(1);
}
const clip = gltf.animations[0];
const mixer = new THREE.AnimationMixer(gltf.scene);
const action = mixer.clipAction(clip);
action.setLoop(THREE.LoopOnce, 1); // t = duration shows the last key, not the first again
action.clampWhenFinished = true;
action.play();

function owner(object) {
  for (let o = object; o; o = o.parent) {
    const assoc = gltf.parser.associations.get(o);
    if (assoc && assoc.nodes !== undefined) {
      const node = gltf.parser.json.nodes[assoc.nodes];
      if (node.extras && (node.extras.label !== undefined || node.extras.merged !== undefined)) return node.name;
    }
  }
  return null;
}

const meshes = [];
gltf.scene.traverse((o) => {
  if (o.isMesh && o.geometry.morphAttributes.color) meshes.push(o);
});

function colorOf(mesh) {
  const g = mesh.geometry;
  const base = g.getAttribute('color');
  const c = [base.getX(0), base.getY(0), base.getZ(0)];
  g.morphAttributes.color.forEach((target, k) => {
    const w = mesh.morphTargetInfluences[k];
    c[0] += w * target.getX(0);
    c[1] += w * target.getY(0);
    c[2] += w * target.getZ(0);
  });
  return c;
}

const times = timeArgs.map(Number);
const out = { clip: clip.name, duration: clip.duration, times, structures: {} };
for (const mesh of meshes) {
  out.structures[owner(mesh) ?? mesh.name] = { node: mesh.name, colors: [], influences: [] };
}
for (const t of times) {
  mixer.setTime(t);
  for (const mesh of meshes) {
    const entry = out.structures[owner(mesh) ?? mesh.name];
    entry.colors.push(colorOf(mesh));
    entry.influences.push(Array.from(mesh.morphTargetInfluences));
  }
}
process.stdout.write(JSON.stringify(out));
