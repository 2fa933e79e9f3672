/* One script for every sortable table of a page (table.sortable): a header with a
   button sorts its column, first ascending, then toggling; numbers (th data-type="num")
   compare as numbers, read from a cell's data-sort when present; blanks always go last;
   ties keep the original order. "#sort=<column>:<asc|desc>" in the URL opens the page
   sorted by the header whose data-col is <column>. An input with data-filter="<table id> [<table id> ...]"
   hides the rows of those tables without the typed text (any text of the row, folded
   details included); the element whose id is its data-shown says how many are shown. */
(function(){
"use strict";
function key(cell,num){
 if(!cell)return null;
 var raw=cell.hasAttribute("data-sort")?cell.getAttribute("data-sort"):cell.textContent.trim();
 if(raw==="")return null;if(!num)return raw;var x=parseFloat(raw);return isNaN(x)?null:x;}
function setup(table){
 var body=table.tBodies[0];if(!body||!table.tHead)return null;
 var heads=table.tHead.rows[table.tHead.rows.length-1].cells;
 var rows=[].slice.call(body.rows).filter(function(r){return !r.classList.contains("none");});
 rows.forEach(function(r,i){r.setAttribute("data-i",i);});
 function sortBy(col,dir){
  var th=heads[col],num=th.getAttribute("data-type")==="num",sign=dir==="desc"?-1:1;
  var keyed=rows.map(function(r){return [key(r.cells[col],num),+r.getAttribute("data-i"),r];});
  keyed.sort(function(a,b){
   if(a[0]===null||b[0]===null){return a[0]===b[0]?a[1]-b[1]:(a[0]===null?1:-1);}
   var c=num?a[0]-b[0]:a[0].localeCompare(b[0],undefined,{sensitivity:"base",numeric:true});
   return c===0?a[1]-b[1]:sign*c;});
  keyed.forEach(function(k){body.appendChild(k[2]);});
  for(var j=0;j<heads.length;j++)heads[j].removeAttribute("aria-sort");
  th.setAttribute("aria-sort",dir==="desc"?"descending":"ascending");
  var label=(th.getAttribute("data-col")||String(col))+":"+dir;
  table.setAttribute("data-sorted",label);
  document.documentElement.setAttribute("data-sorted",label);}
 [].forEach.call(heads,function(th,col){
  var b=th.querySelector("button");if(!b)return;
  b.addEventListener("click",function(){
   var dir=th.getAttribute("aria-sort")==="ascending"?"desc":"asc";sortBy(col,dir);
   var name=th.getAttribute("data-col");
   if(name){try{history.replaceState(null,"","#sort="+encodeURIComponent(name)+":"+dir);}catch(e){}}});});
 return {table:table,heads:heads,rows:rows,sortBy:sortBy};}
var tables=[].map.call(document.querySelectorAll("table.sortable"),setup).filter(Boolean);
var m=/sort=([^:&]+):(asc|desc)/.exec(location.hash);
if(m){var want=decodeURIComponent(m[1]),done=false;
 tables.forEach(function(t){if(done)return;
  [].forEach.call(t.heads,function(th,col){
   if(!done&&th.getAttribute("data-col")===want){t.sortBy(col,m[2]);done=true;}});});}
[].forEach.call(document.querySelectorAll("input[data-filter]"),function(box){
 var ids=box.getAttribute("data-filter").split(/\s+/),rows=[];
 tables.forEach(function(x){if(ids.indexOf(x.table.id)>=0)rows=rows.concat(x.rows);});
 var shown=document.getElementById(box.getAttribute("data-shown")||"");
 box.addEventListener("input",function(){
  var q=box.value.trim().toLowerCase(),n=0;
  rows.forEach(function(r){var hit=!q||r.textContent.toLowerCase().indexOf(q)>=0;r.hidden=!hit;if(hit)n++;});
  if(shown)shown.textContent=q?n+" of "+rows.length+" shown":"";});});
document.documentElement.setAttribute("data-ready","1");
})();
